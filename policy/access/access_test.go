package access_test

import (
	"context"
	"encoding/base64"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/access"
)

// The fixtures are the audit logs of the finance and support examples
// (go run ./examples/finance -dir DIR), with the examples' own policies.
func example(t *testing.T, name string) (*policy.Set, *access.Usage) {
	t.Helper()
	set, err := policy.Load(policy.Options{}, filepath.Join("..", "..", "examples", name, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.OpenLog(filepath.Join("testdata", "modelguard-"+name+"-audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := access.ReadUsage(log, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return set, u
}

func TestWhoCanFinance(t *testing.T) {
	t.Parallel()
	set, _ := example(t, "finance")
	a, err := access.WhoCan(context.Background(), set, policy.Tool{Name: "payments.initiate"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Permits) != 1 || len(a.Forbids) != 0 {
		t.Fatalf("payments.initiate: %+v", a)
	}
	p := a.Permits[0]
	want := access.Path{Rule: "payments-need-approval", Effect: policy.Permit,
		Identity: []string{`identity.agent == "finance-bot"`}, Args: []string{"args.amount_cents <= 50000"},
		Require: []string{"approval"}, Controls: []string{"OWASP-AGENTIC-PRIVILEGE", "SOX-ITGC-CHANGE"}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("path\n got %+v\nwant %+v", p, want)
	}
	none, err := access.WhoCan(context.Background(), set, policy.Tool{Name: "payments.refund"})
	if err != nil || none.Possible() {
		t.Errorf("a tool no rule covers: %+v, %v", none, err)
	}
}

func TestWhatCan(t *testing.T) {
	t.Parallel()
	set, _ := example(t, "support")
	tools := access.Tools(set, "tickets.update", "customers.export")
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		claims string
		want   []string
	}{
		{"support-bot with the scope", `{"sub":"model:s","agent":"support-bot","scope":"tickets:read"}`, []string{"tickets.get", "tickets.search"}},
		{"support-bot without the scope", `{"sub":"model:s","agent":"support-bot","scope":"tickets:write"}`, nil},
		{"another agent", `{"sub":"model:s","agent":"finance-bot","scope":"tickets:read"}`, nil},
	} {
		c, err := access.ParseClaims([]byte(tt.claims))
		if err != nil {
			t.Fatal(err)
		}
		got, err := access.WhatCan(ctx, set, c, tools)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range got {
			names = append(names, a.Tool)
			if len(a.Permits) == 0 || !a.Permits[0].Always {
				t.Errorf("%s: %s should be allowed whatever the arguments: %+v", tt.name, a.Tool, a)
			}
		}
		if !reflect.DeepEqual(names, tt.want) {
			t.Errorf("%s: WhatCan = %v, want %v", tt.name, names, tt.want)
		}
	}
	if _, err := access.WhatCan(ctx, set, nil, tools); !errors.Is(err, access.ErrInput) {
		t.Errorf("nil claims: %v", err)
	}
	if _, err := access.WhoCan(ctx, nil, policy.Tool{Name: "x"}); !errors.Is(err, access.ErrInput) {
		t.Errorf("nil set: %v", err)
	}
}

func TestParseClaims(t *testing.T) {
	t.Parallel()
	b64 := base64.RawURLEncoding.EncodeToString
	tok := b64([]byte(`{"alg":"EdDSA","kid":"k1"}`)) + "." + b64([]byte(`{"sub":"model:a","agent":"a","scope":"x y"}`)) + "." + b64([]byte("sig"))
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"claims", `{"sub":"model:a","agent":"a","scope":"x y"}`, true},
		{"token, unverified", tok, true},
		{"token with spaces", " " + tok + "\n", true},
		{"wrong claim type", `{"sub":1}`, false},
		{"two objects", `{"sub":"a"} {"sub":"b"}`, false},
		{"array", `["sub"]`, false},
		{"null", `null`, false},
		{"two parts", "a.b", false},
		{"bad base64", "a.!!.c", false},
		{"empty", "", false},
		{"too large", `{"sub":"` + strings.Repeat("a", access.MaxClaimsSize) + `"}`, false},
	} {
		c, err := access.ParseClaims([]byte(tt.in))
		if tt.ok != (err == nil) {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if err != nil && !errors.Is(err, access.ErrInput) {
			t.Errorf("%s: %v does not wrap ErrInput", tt.name, err)
		}
		if tt.ok && (c.Subject != "model:a" || c.Agent != "a" || !reflect.DeepEqual(c.Scopes, []string{"x", "y"})) {
			t.Errorf("%s: claims %+v", tt.name, c)
		}
	}
}

func FuzzParseClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"model:a","agent":"a","scope":"x y","act":{"sub":"gw"}}`))
	f.Add([]byte("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln"))
	f.Add([]byte(`{"model":{"name":1}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := access.ParseClaims(in)
		if (c == nil) == (err == nil) {
			t.Fatalf("claims %v and error %v", c, err)
		}
		if err != nil && !errors.Is(err, access.ErrInput) {
			t.Fatalf("%v does not wrap ErrInput", err)
		}
	})
}

func TestInventory(t *testing.T) {
	t.Parallel()
	_, u := example(t, "finance")
	inv := u.Inventory(access.InventoryOptions{})
	if len(inv) != 1 {
		t.Fatalf("identities: %+v", inv)
	}
	id := inv[0]
	if id.Subject != "model:finance-1" || id.Agent != "finance-bot" || id.Issuer != "https://identity.finance.example" {
		t.Errorf("identity: %+v", id.Key)
	}
	if id.Calls.Total() != 7 || id.Calls.Allow != 2 || id.Tokens == 0 || id.Stale {
		t.Errorf("calls %+v tokens %d stale %v", id.Calls, id.Tokens, id.Stale)
	}
	if got := []string{id.Tools[0].Tool, id.Tools[1].Tool}; !reflect.DeepEqual(got, []string{"invoices.summarize", "payments.initiate"}) {
		t.Errorf("tools: %+v", id.Tools)
	}
	later := u.Inventory(access.InventoryOptions{Now: id.LastSeen.Add(31 * 24 * time.Hour)})
	if !later[0].Stale {
		t.Error("not seen for 31 days: not flagged stale")
	}
}

func TestUnused(t *testing.T) {
	t.Parallel()
	set, u := example(t, "support")
	f, err := access.Unused(context.Background(), set, u, access.Tools(set), access.UnusedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Identities) != 1 || strings.Join(f.Identities[0].Used, ",") != "tickets.get,tickets.search" || len(f.Identities[0].Unused) != 0 {
		t.Errorf("entitlements: %+v", f.Identities)
	}
	if len(f.PermitsNeverMatched) != 0 || len(f.ForbidsNeverFired) != 0 {
		t.Errorf("rules: %+v", f)
	}
}
