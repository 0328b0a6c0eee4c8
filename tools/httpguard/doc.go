// Package httpguard is net/http middleware that admits a request only with a
// verified modelguard identity token.
//
// # One call
//
// [Protect] makes a handler an OAuth 2.0 protected resource as the MCP
// authorization specification expects: metadata served without credentials,
// a bearer check bound to the canonical resource (RFC 8707), challenges on
// every 401 and, for MCP, sessions bound to the identity that opened them
// ([Sessions]). The MCP adapters' NewHTTPHandler functions are built on it.
//
// # Admitting a request
//
// [Middleware] reads the bearer token from the Authorization header (RFC 6750
// §2.1), verifies it with a [tools.Verifier] and passes the request on with the
// raw token ([identity.WithToken]) and the verified claims ([identity.NewContext])
// in its context, so that every guarded tool the handler calls sees the caller's
// identity:
//
//	verifier, _ := identity.NewVerifier(issuer, audience, keys, identity.VerifierOptions{})
//	http.Handle("/tools/", httpguard.Middleware(verifier, httpguard.Options{})(toolsHandler))
//
// The guards verify the token again on each call (a verifier caches what it
// verified), so the middleware is the first check, not the only one.
//
// # Refusing a request
//
// A request without a bearer token, with more than one Authorization header,
// or with a token that fails verification gets 401 Unauthorized and a
// WWW-Authenticate challenge: "Bearer" when no token was presented and
// `Bearer error="invalid_token"` when one was. The response never says why a
// token was refused, since that would help an attacker probe the verifier; the
// reason goes to [Options.OnError], for the operator. Tokens in the query string
// or the body are not read.
//
// # Protected resource metadata
//
// [MetadataHandler] serves OAuth 2.0 protected resource metadata (RFC 9728 §2,
// §3.2) without credentials, at the path [MetadataURL] gives (§3.1); set
// [Options.ResourceMetadata] to that URL so every 401 names it (§5.1).
// [CanonicalResource] gives the one resource identifier to use both there and
// as the verifier's audience (RFC 8707 §2), so a token issued for another
// resource is refused. [Options.InsufficientScope] answers a request whose
// token lacks scopes with 403 insufficient_scope naming every scope it needs
// (RFC 6750 §3.1).
package httpguard
