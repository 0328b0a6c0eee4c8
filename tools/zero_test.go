package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// probe runs fn, turning a panic into an error that names it.
func probe(fn func() error) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("panic: %v", r), true
		}
	}()
	return fn(), false
}

// TestZeroValuesNeverPanic: every public entry point given a zero value, a nil
// pointer or a typed nil returns an error (or, for read-only accessors, an
// empty answer and a deny) and never panics; nothing runs.
func TestZeroValuesNeverPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fn := func(context.Context, payment) (string, error) { return "", nil }
	ps := []struct {
		n string
		f func() error
	}{
		{"NewGuard(&Enforcer{})", func() error { _, err := tools.NewGuard(&tools.Enforcer{}, tools.Tool{Name: "t"}, fn); return err }},
		{"zero Guard Call", func() error { var g tools.Guard[payment, string]; _, err := g.Call(ctx, payment{}); return err }},
		{"zero Guard CallJSON", func() error { var g tools.Guard[payment, string]; _, err := g.CallJSON(ctx, nil); return err }},
		{"nil *Guard Call", func() error { var g *tools.Guard[payment, string]; _, err := g.Call(ctx, payment{}); return err }},
		{"zero Registry Call", func() error { var r tools.Registry; _, err := r.Call(ctx, "t", json.RawMessage(`{}`)); return err }},
		{"zero Registry Visible", func() error {
			var r tools.Registry
			if len(r.Visible(ctx)) != 0 || len(r.Handlers()) != 0 {
				return nil
			}
			return errNilSafe
		}},
		{"nil *Registry Call", func() error { var r *tools.Registry; _, err := r.Call(ctx, "t", nil); return err }},
		{"NewRegistry(nil)", func() error { _, err := tools.NewRegistry(nil); return err }},
		{"typed nil verifier", func() error {
			var v *identity.Verifier
			_, err := tools.NewEnforcer(v, &policy.Set{}, &audit.Memory{}, tools.Options{})
			return err
		}},
		{"typed nil memory", func() error {
			var m *audit.Memory
			s, _ := policy.NewSet(nil, policy.Options{})
			_, err := tools.NewEnforcer((*identity.Verifier)(nil), s, m, tools.Options{})
			return err
		}},
		{"zero Set Compile", func() error { _, err := (&policy.Set{}).Compile(policy.Tool{Name: "t"}); return err }},
		{"zero Set Version/Rules/Lint", func() error { s := &policy.Set{}; s.Version(); s.Rules(); s.Lint(nil); return s.Ready() }},
		{"nil Set Ready", func() error { var s *policy.Set; return s.Ready() }},
		{"zero Program Decide", func() error {
			var p policy.Program
			if p.Decide(ctx, policy.Input{}).Allowed {
				return nil // an allow from a zero program: the failure this test looks for
			}
			return errNilSafe
		}},
		{"zero Enforcer Policy", func() error {
			var e tools.Enforcer
			if e.Policy() != nil {
				return nil
			}
			return errNilSafe
		}},
		{"zero Enforcer methods", func() error { var e tools.Enforcer; e.Verifier(); return e.SetPolicy(ctx, nil) }},
		{"zero Memory", func() error {
			var m audit.Memory // documented as ready to use
			if err := m.Record(ctx, audit.Event{}); err != nil || len(m.Events()) != 1 {
				return nil
			}
			return errNilSafe
		}},
		{"zero Verifier Verify", func() error { var v identity.Verifier; _, err := v.Verify(ctx, "x.y.z"); return err }},
		{"nil Verifier Verify", func() error { var v *identity.Verifier; _, err := v.Verify(ctx, "x.y.z"); return err }},
	}
	for _, p := range ps {
		err, panicked := probe(p.f)
		switch {
		case panicked:
			t.Errorf("%s: %v", p.n, err)
		case err == nil:
			t.Errorf("%s: no error", p.n)
		}
	}
}

// errNilSafe is what a probe of a nil-safe accessor returns when it behaved.
var errNilSafe = errors.New("nil-safe")
