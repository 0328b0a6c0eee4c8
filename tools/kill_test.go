package tools_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// killFixture is an enforcer with a kill switch and a policy that permits
// every tool except "blocked.tool", which a forbid rule covers.
func killFixture(t *testing.T, ks tools.KillSwitch) (*tools.Enforcer, *audit.Memory, *identity.Issuer) {
	t.Helper()
	key, err := identity.GenerateKey(jose.EdDSA, "k1")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := identity.NewIssuer("https://id.example", key, identity.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.NewKeySet(iss.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.Parse("kill.yaml", []byte(`
rules:
  - id: all
    effect: permit
    tools: ["*"]
  - id: blocked
    effect: forbid
    tools: ["blocked.tool"]
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem := &audit.Memory{}
	enf, err := tools.NewEnforcer(v, set, mem, tools.Options{Kill: ks})
	if err != nil {
		t.Fatal(err)
	}
	return enf, mem, iss
}

func mintCtx(t *testing.T, iss *identity.Issuer, c identity.Claims) context.Context {
	t.Helper()
	c.Audience = []string{"modelguard"}
	tok, err := iss.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return identity.WithToken(context.Background(), tok)
}

// Invariant: a call runs if and only if no active kill stops it; a stopped call
// is denied with CodeKilled before policy (even a call policy forbids), the tool
// does not run, and its decision event says which switch, and who pulled it.
func TestKillSwitchProperty(t *testing.T) {
	t.Parallel()
	ks := &tools.KillSet{}
	enf, mem, iss := killFixture(t, ks)
	toolNames := []string{"a.tool", "b.tool", "blocked.tool"}
	ran := map[string]int{}
	guards := map[string]func(context.Context, struct{}) (string, error){}
	for _, n := range toolNames {
		g, err := tools.Wrap(enf, tools.Tool{Name: n}, func(context.Context, struct{}) (string, error) { ran[n]++; return "ok", nil })
		if err != nil {
			t.Fatal(err)
		}
		guards[n] = g
	}
	vals := []string{"x", "y"}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return vals[r.IntN(len(vals))] }
	for round := range 60 {
		var kills []tools.Kill
		for i := range r.IntN(3) {
			sc := []tools.KillScope{tools.KillAll, tools.KillAgent, tools.KillSubject, tools.KillTenant, tools.KillTool}[r.IntN(5)]
			k := tools.Kill{ID: fmt.Sprint(round, ".", i), Scope: sc, By: "ops@example", Reason: "test"}
			switch sc {
			case tools.KillTool:
				k.Value = toolNames[r.IntN(len(toolNames))]
			case tools.KillAll:
				if r.IntN(4) != 0 {
					continue // keep "everything" rare so that other scopes get exercised
				}
			default:
				k.Value = pick()
			}
			kills = append(kills, k)
		}
		ks.Replace(kills, nil)
		c := identity.Claims{Subject: pick(), Agent: pick(), Tenant: pick()}
		tool := toolNames[r.IntN(len(toolNames))]
		var stop *tools.Kill
		for i := range kills {
			if kills[i].Stops(&c, tool) {
				stop = &kills[i]
				break
			}
		}
		before, n := ran[tool], len(mem.Events())
		_, err := guards[tool](mintCtx(t, iss, c), struct{}{})
		evs := mem.Events()[n:]
		var de *tools.DeniedError
		switch {
		case stop != nil:
			if !errors.As(err, &de) || de.Code != tools.CodeKilled || !errors.Is(err, tools.ErrKilled) || ran[tool] != before {
				t.Fatalf("round %d: %v stops %s by %+v, got err %v (ran %d→%d)", round, stop, tool, c, err, before, ran[tool])
			}
			if len(evs) != 1 || evs[0].Code != string(tools.CodeKilled) || len(evs[0].Reasons) != 1 || evs[0].Identity.Subject != c.Subject {
				t.Fatalf("round %d: events %+v", round, evs)
			}
		case tool == "blocked.tool":
			if !errors.As(err, &de) || de.Code != tools.CodeForbidden {
				t.Fatalf("round %d: want forbidden, got %v", round, err)
			}
		default:
			if err != nil || ran[tool] != before+1 {
				t.Fatalf("round %d: no kill stops %s by %+v (kills %+v), got %v", round, tool, c, kills, err)
			}
		}
	}
}

type brokenKills struct{}

func (brokenKills) Stopped(context.Context, *identity.Claims, string) (*tools.Kill, error) {
	return nil, errors.New("store down")
}

// A kill switch that cannot be checked denies the call, with its own code.
func TestKillSwitchUnavailableDenies(t *testing.T) {
	t.Parallel()
	for name, ks := range map[string]tools.KillSwitch{"error": brokenKills{}, "nil KillSet": (*tools.KillSet)(nil)} {
		enf, mem, iss := killFixture(t, ks)
		ran := false
		g, err := tools.Wrap(enf, tools.Tool{Name: "a.tool"}, func(context.Context, struct{}) (string, error) { ran = true; return "", nil })
		if err != nil {
			t.Fatal(err)
		}
		_, err = g(mintCtx(t, iss, identity.Claims{Subject: "s"}), struct{}{})
		var de *tools.DeniedError
		if !errors.As(err, &de) || de.Code != tools.CodeKillSwitchUnavailable || ran || !errors.Is(err, tools.ErrKillSwitchUnavailable) {
			t.Fatalf("%s: got %v, ran %v", name, err, ran)
		}
		if evs := mem.Events(); len(evs) != 1 || evs[0].Code != string(tools.CodeKillSwitchUnavailable) {
			t.Fatalf("%s: events %+v", name, evs)
		}
	}
	// A view marked untrustworthy fails closed until it is replaced.
	ks := &tools.KillSet{}
	ks.Replace(nil, errors.New("stale"))
	if _, err := ks.Stopped(context.Background(), &identity.Claims{}, "t"); err == nil {
		t.Fatal("stale view did not fail closed")
	}
	ks.Replace(nil, nil)
	if k, err := ks.Stopped(context.Background(), &identity.Claims{}, "t"); k != nil || err != nil {
		t.Fatalf("after replace: %v %v", k, err)
	}
}

func TestKillCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		k  tools.Kill
		ok bool
	}{
		{tools.Kill{}, false},
		{tools.Kill{Scope: tools.KillAll, By: "a"}, true},
		{tools.Kill{Scope: tools.KillAll, Value: "x", By: "a"}, false},
		{tools.Kill{Scope: tools.KillAgent, By: "a"}, false},
		{tools.Kill{Scope: tools.KillAgent, Value: "bot", By: "a"}, true},
		{tools.Kill{Scope: tools.KillTool, Value: "t"}, false},
		{tools.Kill{Scope: "galaxy", Value: "t", By: "a"}, false},
	} {
		if err := tc.k.Check(); (err == nil) != tc.ok {
			t.Errorf("Check(%+v) = %v, want ok %v", tc.k, err, tc.ok)
		}
	}
	// A malformed kill that reached a store anyway stops everything.
	if !(tools.Kill{Scope: "galaxy"}).Stops(&identity.Claims{}, "t") {
		t.Error("malformed kill let a call through")
	}
	ks := &tools.KillSet{}
	if err := ks.Activate(tools.Kill{Scope: tools.KillAgent}); err == nil {
		t.Error("Activate took a malformed kill")
	}
	if err := ks.Activate(tools.Kill{ID: "1", Scope: tools.KillTool, Value: "t", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	if k, _ := ks.Stopped(context.Background(), &identity.Claims{}, "t"); k == nil || k.ID != "1" {
		t.Fatalf("activated kill does not stop: %v", k)
	}
	if !ks.Lift("1") || ks.Lift("1") || len(ks.List()) != 0 {
		t.Fatal("lift")
	}
}
