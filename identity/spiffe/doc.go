// Package spiffe verifies SPIFFE JWT-SVIDs for modelguard guards, with trust
// bundles from go-spiffe: static bundles, bundle sets, or the Workload API of
// a SPIRE agent, which streams bundle updates as keys rotate.
//
// It is a module of its own because go-spiffe brings gRPC; the core
// identity package stays free of it.
//
// # Verifying JWT-SVIDs
//
// A [Verifier] checks a token with [identity.NewSVIDVerifier] (the hardened
// JWS pipeline of package identity, with the JWT-SVID claim rules) against
// the bundle of the trust domain its sub names, then checks the SPIFFE ID
// with a go-spiffe matcher: spiffeid.MatchID (exact), spiffeid.MatchOneOf,
// spiffeid.MatchMemberOf (trust domain) or spiffeid.MatchIDPrefix (path
// prefix). It implements the Verify method that tools.NewEnforcer takes, and
// the claims it returns carry SPIFFEID and TrustDomain for policy:
//
//	identity.spiffe_id == "spiffe://example.org/agent/support" && identity.trust_domain == "example.org"
//
// Audience rules follow the JWT-SVID specification: aud is required and must
// contain the verifier's audience; an SVID minted for another audience is
// refused with identity.ErrAudience.
//
// # Bundles
//
// [Bundles] adapts any jwtbundle.Source to [identity.Bundles]. Each bundle is
// converted to an [identity.KeySet] under the same hygiene rules as any key
// set, and converted again only when the source hands out a changed bundle;
// a removed JWT authority stops verifying at once, cached tokens included.
//
// # Workload API
//
// [NewWorkloadVerifier] opens a workloadapi.JWTSource on the agent's socket
// and keeps it until [Verifier.Close].
//
// # Integration test
//
// internal/spiretest runs a real SPIRE server and agent and puts a guarded
// tool in front of an SVID from the Workload API; see its documentation for
// how the binaries are built.
package spiffe
