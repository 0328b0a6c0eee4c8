// Package identitytest is a kit for testing code that consumes modelguard
// identity tokens. A [Kit] holds a fresh Ed25519 key; it mints valid tokens and
// tokens broken in each way an [identity.Verifier] must reject, together with
// the sentinel error each must be rejected with.
//
// # Testing a consumer
//
// Run every broken token through the code under test and check that it denies
// each one for the right reason:
//
//	func TestAuthRejects(t *testing.T) {
//		k := identitytest.New(t, identitytest.Options{})
//		auth := newAuth(k.Verifier(t, identity.VerifierOptions{})) // code under test
//		if err := auth.Check(k.Mint(t, identity.Claims{Agent: "bot"})); err != nil {
//			t.Fatalf("valid token refused: %v", err)
//		}
//		for _, b := range k.Broken(t) {
//			if err := auth.Check(b.Token); !errors.Is(err, b.Err) {
//				t.Errorf("%s: got %v, want %v", b.Name, err, b.Err)
//			}
//		}
//	}
//
// # Clock
//
// A Kit runs on a manual clock: it stands still until [Kit.Advance] moves it,
// so tests about expiry never sleep. Tokens from the kit and verifiers from
// [Kit.Verifier] both read that clock.
//
// # Hand-built tokens
//
// [Kit.Sign] signs any header and claim set with the kit's key, for the tokens
// go-jose refuses to build: alg none, algorithm confusion, forbidden headers,
// duplicate claims.
//
// # Stores
//
// [TestStore] is the conformance test of a replay and revocation store
// (identity.Store plus Revoke): one-time use keyed on issuer and jti, expiry,
// a race of sixteen uses of one token of which exactly one wins, and
// revocations of every kind. identity.MemoryStore and the PostgreSQL store
// of identity/postgres pass it; so must a custom store.
package identitytest
