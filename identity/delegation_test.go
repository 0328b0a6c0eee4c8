package identity_test

import (
	"context"
	"errors"
	"testing"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/modelguard/modelguard/identity"
)

var (
	alice   = identity.Actor{Subject: "user:alice", Scope: "tickets:read tickets:write payments:read"}
	gateway = identity.Actor{Subject: "svc:gateway", Issuer: "https://gw", Scope: "tickets:read tickets:write"}
)

func TestDelegation(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	rules := identity.Delegation{MaxDepth: 2, Actors: []string{"svc:*", "user:*"}, Attenuate: true}
	tests := []struct {
		name  string
		rules identity.Delegation
		c     identity.Claims
		rule  string // "" accepted
		index int
	}{
		{"not delegated", rules, identity.Claims{Scope: "anything"}, "", 0},
		{"narrowing chain", rules, identity.Claims{Scope: "tickets:read", Act: []identity.Actor{gateway, alice}}, "", 0},
		{"unstated scopes", rules, identity.Claims{Scope: "x", Act: []identity.Actor{{Subject: "svc:a"}}}, "", 0},
		{"too deep", rules, identity.Claims{Act: []identity.Actor{{Subject: "svc:a"}, {Subject: "svc:b"}, {Subject: "user:c"}}}, "depth", -1},
		{"no delegation allowed", identity.Delegation{MaxDepth: -1}, identity.Claims{Act: []identity.Actor{alice}}, "depth", -1},
		{"actor not allowed", rules, identity.Claims{Act: []identity.Actor{{Subject: "model:rogue"}, alice}}, "actor", 0},
		{"origin not allowed", rules, identity.Claims{Act: []identity.Actor{gateway, {Subject: "robot:x"}}}, "actor", 1},
		{"token widens", rules, identity.Claims{Scope: "tickets:read payments:write", Act: []identity.Actor{gateway, alice}}, "scope", -1},
		{"actor widens", rules, identity.Claims{Act: []identity.Actor{{Subject: "svc:gw", Scope: "payments:read admin"}, alice}}, "scope", 0},
		{"widening allowed without attenuate", identity.Delegation{}, identity.Claims{Scope: "admin", Act: []identity.Actor{gateway}}, "", 0},
		{"may_act matches", identity.Delegation{}, identity.Claims{MayAct: identity.Actor{Subject: "svc:gateway"}, Act: []identity.Actor{gateway}}, "", 0},
		{"may_act other actor", identity.Delegation{}, identity.Claims{MayAct: identity.Actor{Subject: "svc:other"}, Act: []identity.Actor{gateway}}, "may_act", 0},
		{"may_act other issuer", identity.Delegation{}, identity.Claims{MayAct: identity.Actor{Subject: "svc:gateway", Issuer: "https://x"}, Act: []identity.Actor{gateway}}, "may_act", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := verify(t, k, identity.VerifierOptions{Delegation: tt.rules}, k.Mint(t, tt.c))
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			wantOnly(t, err, identity.ErrDelegation)
			var de *identity.DelegationError
			if !errors.As(err, &de) || de.Rule != tt.rule || de.Index != tt.index {
				t.Fatalf("err = %#v, want rule %s at %d", err, tt.rule, tt.index)
			}
		})
	}
}

func TestDelegationBadPattern(t *testing.T) {
	t.Parallel()
	_, err := identity.NewVerifier("i", "a", newKit(t).Keys(), identity.VerifierOptions{Delegation: identity.Delegation{Actors: []string{"svc:[", ""}}})
	wantOnly(t, err, identity.ErrConfig)
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
		t.Errorf("%d problems, want 2: %v", n, err)
	}
}

func TestMayActMalformed(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	for name, tc := range map[string]struct {
		v    any
		want error
	}{
		"string":    {"svc:a", identity.ErrMalformed},
		"no sub":    {map[string]any{"iss": "x"}, identity.ErrMissingClaim},
		"sub array": {map[string]any{"sub": []string{"a"}}, identity.ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := verify(t, k, identity.VerifierOptions{}, k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["may_act"] = tc.v })))
			wantOnly(t, err, tc.want)
		})
	}
}

// TestDelegationVisibleToCEL evaluates the delegation and SPIFFE fields the
// way policy sees them: Claims as a CEL native type with its cel tags.
func TestDelegationVisibleToCEL(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	c, err := verify(t, k, identity.VerifierOptions{}, k.Mint(t, identity.Claims{
		Act: []identity.Actor{gateway, alice}, MayAct: identity.Actor{Subject: "svc:gateway"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	env, err := cel.NewEnv(
		ext.NativeTypes(types.NativeTypeFor[identity.Claims](types.ParseStructTag("cel")), types.NativeTypeAlias("modelguard.Identity")),
		cel.Variable("identity", cel.ObjectType("modelguard.Identity")))
	if err != nil {
		t.Fatal(err)
	}
	expr := `identity.act_depth == 2 && identity.origin == "user:alice" && identity.act[0].sub == "svc:gateway" &&
		identity.act[1].scope == "tickets:read tickets:write payments:read" && identity.may_act.sub == "svc:gateway" &&
		identity.spiffe_id == "" && identity.trust_domain == ""`
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := prg.Eval(map[string]any{"identity": c})
	if err != nil || out != types.True {
		t.Fatalf("%s = %v, %v", expr, out, err)
	}
}

func TestMintWritesMayActAndActorScope(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	c, err := verify(t, k, identity.VerifierOptions{}, k.Mint(t, identity.Claims{Act: []identity.Actor{gateway}, MayAct: identity.Actor{Subject: "svc:gateway", Issuer: "https://gw"}}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Act[0] != gateway || c.MayAct.Subject != "svc:gateway" || c.MayAct.Issuer != "https://gw" || c.Origin != "svc:gateway" || c.ActDepth != 1 {
		t.Errorf("claims = %+v", c)
	}
	if _, err := k.Verifier(t, identity.VerifierOptions{}).Verify(context.Background(), k.Mint(t, identity.Claims{})); err != nil {
		t.Fatal(err)
	}
}
