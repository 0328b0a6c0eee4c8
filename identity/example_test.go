package identity_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// A fixed clock keeps the examples deterministic.
var exampleNow = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func exampleClock() time.Time { return exampleNow }

// Mint a token for a support bot and verify it on the tool side.
func Example() {
	key, err := identity.GenerateKey(jose.EdDSA, "2026-03")
	if err != nil {
		panic(err)
	}
	iss, err := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{Now: exampleClock})
	if err != nil {
		panic(err)
	}
	token, err := iss.Mint(identity.Claims{
		Subject:  "model:support-bot",
		Audience: []string{"ticket-tools"},
		Model:    identity.Model{Provider: "anthropic", Name: "claude"},
		Agent:    "support-bot",
		Scopes:   []string{"tickets:read", "tickets:comment"},
		Act:      []identity.Actor{{Subject: "user:alice"}},
	})
	if err != nil {
		panic(err)
	}

	keys, err := identity.NewKeySet(iss.PublicKey())
	if err != nil {
		panic(err)
	}
	v, err := identity.NewVerifier("https://id.example.com", "ticket-tools", keys, identity.VerifierOptions{Now: exampleClock})
	if err != nil {
		panic(err)
	}
	c, err := v.Verify(context.Background(), token)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Subject, c.Agent, c.Model.Name)
	fmt.Println(c.Scopes, c.HasScope("tickets:read"))
	fmt.Println("acting for", c.Act[0].Subject, "until", c.Expiry.Format(time.Kitchen))
	// Output:
	// model:support-bot support-bot claude
	// [tickets:read tickets:comment] true
	// acting for user:alice until 9:05AM
}

// A token for another audience is rejected; the error says why and wraps a
// sentinel to branch on.
func ExampleVerifier_Verify_rejection() {
	key, _ := identity.GenerateKey(jose.EdDSA, "k1")
	iss, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{Now: exampleClock})
	token, _ := iss.Mint(identity.Claims{Subject: "model:bot", Audience: []string{"billing-tools"}})

	keys, _ := identity.NewKeySet(iss.PublicKey())
	v, _ := identity.NewVerifier("https://id.example.com", "ticket-tools", keys, identity.VerifierOptions{Now: exampleClock})
	_, err := v.Verify(context.Background(), token)
	fmt.Println(errors.Is(err, identity.ErrAudience))
	fmt.Println(err)
	// Output:
	// true
	// identity: audience ["billing-tools"] does not contain "ticket-tools": identity: wrong audience
}

// An expired token names its expiry, the clock and the leeway.
func ExampleVerifier_Verify_expired() {
	key, _ := identity.GenerateKey(jose.EdDSA, "k1")
	iss, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{Now: exampleClock})
	token, _ := iss.Mint(identity.Claims{Subject: "model:bot", Audience: []string{"tools"}})

	keys, _ := identity.NewKeySet(iss.PublicKey())
	later := func() time.Time { return exampleNow.Add(10 * time.Minute) }
	v, _ := identity.NewVerifier("https://id.example.com", "tools", keys, identity.VerifierOptions{Now: later})
	_, err := v.Verify(context.Background(), token)
	fmt.Println(errors.Is(err, identity.ErrExpired))
	fmt.Println(err)
	// Output:
	// true
	// identity: token expired at 2026-03-01T09:05:00Z (now 2026-03-01T09:10:00Z, leeway 30s): identity: expired
}

// Key sets refuse bad keys at load time, listing every problem.
func ExampleParseKeySet() {
	_, err := identity.ParseKeySet([]byte(`{"keys":[
		{"kty":"oct","kid":"shared","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"},
		{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	]}`))
	fmt.Println(errors.Is(err, identity.ErrKeySet))
	fmt.Println(err)
	// Output:
	// true
	// identity: key 0 (kid "shared"): symmetric key (only asymmetric signature keys are allowed): identity: bad key set
	// identity: key 1 (kid ""): empty kid: identity: bad key set
	// identity: key 1 (kid ""): use "enc", want "sig" or none: identity: bad key set
}
