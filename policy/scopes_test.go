package policy_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

const scopesPolicy = `
rules:
  - id: tickets-write
    effect: permit
    tools: ["tickets.update"]
    scopes: [tickets:write, tickets:read]
    when: identity.agent == "support-bot"
  - id: tickets-admin
    effect: permit
    tools: ["tickets.update"]
    scopes: [tickets:admin]
    when: identity.agent == "support-bot" && args.priority > 3
  - id: no-vip
    effect: forbid
    tools: ["tickets.update"]
    when: args.id.startsWith("VIP-")
  - id: shadow-open
    effect: permit
    mode: shadow
    tools: ["tickets.update"]
    scopes: [tickets:shadow]
`

func TestScopesStepUp(t *testing.T) {
	t.Parallel()
	p := mustCompile[ticketArgs](t, mustSet(t, scopesPolicy), "tickets.update")
	bot := func(scopes ...string) *identity.Claims {
		return &identity.Claims{Subject: "model:support-1", Agent: "support-bot", Scopes: scopes}
	}
	cases := []struct {
		name    string
		id      *identity.Claims
		args    ticketArgs
		allowed bool
		scopes  string
	}{
		{"no scopes: the rule's every scope", bot(), ticketArgs{ID: "T-1"}, false, "tickets:write tickets:read"},
		{"one of two", bot("tickets:read"), ticketArgs{ID: "T-1"}, false, "tickets:write tickets:read"},
		{"all held", bot("tickets:read", "tickets:write"), ticketArgs{ID: "T-1"}, true, ""},
		{"fewest missing wins", bot("tickets:read"), ticketArgs{ID: "T-1", Priority: 5}, false, "tickets:write tickets:read"},
		{"fewest missing, other rule", bot(), ticketArgs{ID: "T-1", Priority: 5}, false, "tickets:admin"},
		{"another rule permits", bot("tickets:admin"), ticketArgs{ID: "T-1", Priority: 5}, true, ""},
		{"forbid: no step-up", bot(), ticketArgs{ID: "VIP-1"}, false, ""},
		{"condition false: no step-up", &identity.Claims{Subject: "s", Agent: "coder"}, ticketArgs{ID: "T-1"}, false, ""},
	}
	for _, c := range cases {
		d := p.Decide(context.Background(), policy.Input{Identity: c.id, Args: &c.args})
		if d.Allowed != c.allowed || strings.Join(d.Scopes, " ") != c.scopes {
			t.Errorf("%s: allowed %v scopes %q, want %v %q (%v)", c.name, d.Allowed, d.Scopes, c.allowed, c.scopes, d.Reasons)
		}
		if c.scopes != "" && !strings.Contains(strings.Join(d.Reasons, "; "), "step-up") {
			t.Errorf("%s: reasons %q do not say step-up", c.name, d.Reasons)
		}
		for _, m := range d.Messages {
			if strings.Contains(m, "tickets-") {
				t.Errorf("%s: message %q names a rule", c.name, m)
			}
		}
	}
}

// TestScopesProperty checks, over random scope sets, that a call is allowed
// exactly when some permit rule's scopes are all held (its condition holds),
// and that a denial names the scopes of a rule the identity lacks some of.
func TestScopesProperty(t *testing.T) {
	t.Parallel()
	p := mustCompile[ticketArgs](t, mustSet(t, scopesPolicy), "tickets.update")
	all := []string{"tickets:read", "tickets:write", "tickets:admin", "tickets:shadow", "other"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		var held []string
		for _, s := range all {
			if rng.IntN(2) == 0 {
				held = append(held, s)
			}
		}
		args := ticketArgs{ID: "T-1", Priority: rng.IntN(7)}
		has := func(ss ...string) bool {
			for _, s := range ss {
				if !slices.Contains(held, s) {
					return false
				}
			}
			return true
		}
		want := has("tickets:write", "tickets:read") || (args.Priority > 3 && has("tickets:admin"))
		d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Subject: "s", Agent: "support-bot", Scopes: held}, Args: &args})
		if d.Allowed != want {
			t.Fatalf("held %v priority %d: allowed %v, want %v", held, args.Priority, d.Allowed, want)
		}
		if d.Allowed != (len(d.Scopes) == 0) || (!d.Allowed && has(d.Scopes...)) {
			t.Fatalf("held %v priority %d: scopes %v (allowed %v)", held, args.Priority, d.Scopes, d.Allowed)
		}
	}
}

func TestScopesInvalid(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"forbid with scopes": "rules:\n  - id: f\n    effect: forbid\n    tools: [t]\n    scopes: [a]\n",
		"space in scope":     "rules:\n  - id: p\n    effect: permit\n    tools: [t]\n    scopes: [\"a b\"]\n",
		"quote in scope":     "rules:\n  - id: p\n    effect: permit\n    tools: [t]\n    scopes: ['a\"b']\n",
		"empty scope":        "rules:\n  - id: p\n    effect: permit\n    tools: [t]\n    scopes: [\"\"]\n",
	} {
		rules, err := policy.Parse("test.yaml", []byte(src))
		if err == nil {
			_, err = policy.NewSet(rules, policy.Options{})
		}
		if !errors.Is(err, policy.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, s := range []string{"tickets:read", "a", "https://x/y", "!#[]~"} {
		if !policy.ValidScope(s) {
			t.Errorf("ValidScope(%q) = false", s)
		}
	}
}

func FuzzValidScope(f *testing.F) {
	for _, s := range []string{"tickets:read", "a b", `a"b`, "", "é", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := policy.ValidScope(s)
		if ok && (s == "" || strings.ContainsAny(s, " \"\\\t\r\n")) {
			t.Fatalf("ValidScope(%q) = true", s)
		}
		for _, r := range s {
			if ok && (r < 0x21 || r > 0x7e) {
				t.Fatalf("ValidScope(%q) = true", s)
			}
		}
	})
}
