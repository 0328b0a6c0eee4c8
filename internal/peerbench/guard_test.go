package peerbench

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

// discard is a sink that keeps nothing, so that the benchmark measures the
// guard, not the sink.
var discard = audit.SinkFunc(func(context.Context, audit.Event) error { return nil })

// guards are the policy's tools wrapped by one tools.Enforcer, the way an
// application wires them, with an issuer to mint the identity tokens they verify.
type guards struct {
	enf    *tools.Enforcer
	issuer *identity.Issuer
	calls  map[string]func(ctx context.Context, args any) error
}

func newGuards(t testing.TB, m *Modelguard) *guards {
	t.Helper()
	key, err := identity.GenerateKey(jose.EdDSA, "k1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	iss, err := identity.NewIssuer("https://id.example", key, identity.IssuerOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.NewKeySet(iss.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	enf, err := tools.NewEnforcer(v, m.Set(), discard, tools.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	g := &guards{enf: enf, issuer: iss, calls: map[string]func(context.Context, any) error{}}
	for name, in := range Tools {
		switch in {
		case reflect.TypeFor[TicketArgs]():
			g.calls[name] = wrap[TicketArgs](t, enf, name)
		case reflect.TypeFor[PaymentArgs]():
			g.calls[name] = wrap[PaymentArgs](t, enf, name)
		case reflect.TypeFor[RepoArgs]():
			g.calls[name] = wrap[RepoArgs](t, enf, name)
		case reflect.TypeFor[SecretArgs]():
			g.calls[name] = wrap[SecretArgs](t, enf, name)
		default:
			t.Fatalf("no guard for %s taking %v", name, in)
		}
	}
	return g
}

// result is what every guarded tool returns: small, so the measured cost is the
// guard's.
type result struct {
	OK bool `json:"ok"`
}

func tool[In any](context.Context, In) (result, error) { return result{OK: true}, nil }

// wrap guards tool[In] as name, behind an untyped adapter for the table tests.
func wrap[In any](t testing.TB, enf *tools.Enforcer, name string) func(context.Context, any) error {
	t.Helper()
	fn, err := tools.Wrap(enf, tools.Tool{Name: name}, tool[In])
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, args any) error {
		_, err := fn(ctx, args.(In))
		return err
	}
}

// ctx returns a context carrying a token minted for id.
func (g *guards) ctx(t testing.TB, id Identity) context.Context {
	t.Helper()
	c := *id.Claims()
	c.Scopes = nil // the verifier derives them from Scope
	c.Audience = []string{"modelguard"}
	tok, err := g.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return identity.WithToken(context.Background(), tok)
}
