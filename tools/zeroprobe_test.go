package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/access"
	"github.com/modelguard/modelguard/tools"
)

// The public API of the core packages, for the zero-value probe. The probe
// checks against the packages' source that nothing exported is missing here,
// so a new function, type or method is probed from the day it is added.
var probeFuncs = map[string]any{
	"audit.Digest": audit.Digest, "audit.DigestBytes": audit.DigestBytes, "audit.DigestLen": audit.DigestLen,
	"audit.MarshalRecord": audit.MarshalRecord, "audit.Multi": audit.Multi, "audit.NewAsync": audit.NewAsync,
	"audit.NewChecker": audit.NewChecker, "audit.NewTree": audit.NewTree, "audit.OpenCheckpoint": audit.OpenCheckpoint,
	"audit.OpenFile": audit.OpenFile, "audit.OpenLog": audit.OpenLog, "audit.ParseCheckpoint": audit.ParseCheckpoint,
	"audit.ParseProof": audit.ParseProof, "audit.ProveConsistency": audit.ProveConsistency,
	"audit.ProveInclusion": audit.ProveInclusion, "audit.ReadLog": audit.ReadLog,
	"audit.SignCheckpoint": audit.SignCheckpoint, "audit.UnsafeParseSignedCheckpoint": audit.UnsafeParseSignedCheckpoint,

	"identity.CheckRemoteURL": identity.CheckRemoteURL, "identity.FromContext": identity.FromContext,
	"identity.GenerateKey": identity.GenerateKey, "identity.LoadKeySet": identity.LoadKeySet,
	"identity.NewContext": identity.NewContext, "identity.NewIssuer": identity.NewIssuer,
	"identity.NewKeySet": identity.NewKeySet, "identity.NewMemoryStore": identity.NewMemoryStore,
	"identity.NewMultiVerifier": identity.NewMultiVerifier, "identity.NewRemoteKeys": identity.NewRemoteKeys,
	"identity.NewSVIDVerifier": identity.NewSVIDVerifier, "identity.NewVerifier": identity.NewVerifier,
	"identity.ParseKeySet": identity.ParseKeySet, "identity.SplitScope": identity.SplitScope,
	"identity.TokenFromContext": identity.TokenFromContext, "identity.TrustDomain": identity.TrustDomain,
	"identity.UnsafeClaimsFromMap": identity.UnsafeClaimsFromMap, "identity.WithToken": identity.WithToken,

	"policy.CheckOutputPath": policy.CheckOutputPath, "policy.Load": policy.Load, "policy.MatchTool": policy.MatchTool, "policy.NewSet": policy.NewSet,
	"policy.NewHistory": policy.NewHistory, "policy.ReplayHistory": policy.ReplayHistory,
	"policy.Parse": policy.Parse, "policy.ParseCases": policy.ParseCases, "policy.ParsePath": policy.ParsePath,
	"policy.ParseRate": policy.ParseRate, "policy.ValidPattern": policy.ValidPattern, "policy.ValidScope": policy.ValidScope, "policy.Watch": policy.Watch,

	"access.BuildReport": access.BuildReport, "access.DefaultMapping": access.DefaultMapping,
	"access.DefaultMappingYAML": access.DefaultMappingYAML, "access.ParseMapping": access.ParseMapping,
	"access.Claims": access.Claims, "access.NewUsage": access.NewUsage, "access.ParseClaims": access.ParseClaims,
	"access.Input": access.Input, "access.ReadUsage": access.ReadUsage, "access.Suggest": access.Suggest,
	"access.Tools": access.Tools, "access.Unused": access.Unused,
	"access.WhatCan": access.WhatCan, "access.WhoCan": access.WhoCan,

	"tools.ApproveRequest": tools.ApproveRequest, "tools.CallFromContext": tools.CallFromContext,
	"tools.CodeOf": tools.CodeOf, "tools.Codes": tools.Codes,
	"tools.EnvSecrets": tools.EnvSecrets, "tools.FileSecrets": tools.FileSecrets,
	"tools.GrantForRequest": tools.GrantForRequest, "tools.MintGrant": tools.MintGrant,
	"tools.ModelText": tools.ModelText, "tools.NewEnforcer": tools.NewEnforcer,
	"tools.NewGrantIssuer": tools.NewGrantIssuer, "tools.NewGrantVerifier": tools.NewGrantVerifier,
	"tools.NewGuard": tools.NewGuard[payment, string], "tools.NewMemoryApprovals": tools.NewMemoryApprovals,
	"tools.NewRegistry": tools.NewRegistry, "tools.SecretFromContext": tools.SecretFromContext,
	"tools.WithCall": tools.WithCall, "tools.WithGrant": tools.WithGrant, "tools.Wrap": tools.Wrap[payment, string],
}

// probeTypes are the exported types whose methods are probed, as nil pointers.
var probeTypes = []any{
	(*audit.Async)(nil), (*audit.AsyncOptions)(nil), (*audit.AsyncStats)(nil), (*audit.Checker)(nil),
	(*audit.Checkpoint)(nil), (*audit.ConsistencyProof)(nil), (*audit.Durability)(nil), (*audit.Event)(nil),
	(*audit.File)(nil), (*audit.FileOptions)(nil), (*audit.FileStats)(nil), (*audit.Filter)(nil),
	(*audit.GrantUse)(nil), (*audit.Identity)(nil), (*audit.InclusionProof)(nil), (*audit.Log)(nil),
	(*audit.Memory)(nil), (*audit.Phase)(nil), (*audit.Position)(nil), (*audit.Sink)(nil), (*audit.SinkFunc)(nil),
	(*audit.Torn)(nil), (*audit.Tree)(nil), (*audit.VerifyError)(nil), (*audit.VerifyOptions)(nil),
	(*audit.VerifyResult)(nil), (*audit.HistoryFact)(nil), (*audit.HistoryFacts)(nil), (*audit.HistoryUse)(nil),

	(*identity.Actor)(nil), (*identity.Bundles)(nil), (*identity.BundlesFunc)(nil), (*identity.Claims)(nil),
	(*identity.Delegation)(nil), (*identity.DelegationError)(nil), (*identity.Issuer)(nil),
	(*identity.IssuerOptions)(nil), (*identity.KeySet)(nil), (*identity.Keys)(nil), (*identity.MemoryStore)(nil),
	(*identity.MemoryStoreOptions)(nil), (*identity.Model)(nil), (*identity.MultiVerifier)(nil),
	(*identity.RemoteKeys)(nil), (*identity.RemoteKeysOptions)(nil), (*identity.Revocation)(nil),
	(*identity.RevocationKind)(nil), (*identity.Store)(nil), (*identity.Verifier)(nil),
	(*identity.VerifierOptions)(nil),

	(*access.Access)(nil), (*access.Count)(nil), (*access.Entitlements)(nil), (*access.Findings)(nil),
	(*access.Identity)(nil), (*access.InventoryOptions)(nil), (*access.Key)(nil), (*access.Path)(nil),
	(*access.Tool)(nil), (*access.UnusedOptions)(nil), (*access.Usage)(nil), (*access.WideArg)(nil),
	(*access.Change)(nil), (*access.FileDiff)(nil), (*access.Flip)(nil), (*access.Replay)(nil),
	(*access.Suggestion)(nil), (*access.SuggestOptions)(nil), (*access.Approval)(nil), (*access.Control)(nil),
	(*access.ControlRow)(nil), (*access.Mapping)(nil), (*access.Report)(nil), (*access.ReportOptions)(nil),
	(*access.Series)(nil), (*access.Tally)(nil), (*access.Timeline)(nil),

	(*policy.Budget)(nil), (*policy.Case)(nil), (*policy.CaseEvent)(nil), (*policy.CaseHistory)(nil), (*policy.CaseRequest)(nil), (*policy.CaseResult)(nil),
	(*policy.Decision)(nil), (*policy.Effect)(nil), (*policy.Error)(nil), (*policy.Clause)(nil), (*policy.Partial)(nil), (*policy.Expect)(nil),
	(*policy.Explanation)(nil), (*policy.Grant)(nil), (*policy.Input)(nil), (*policy.Key)(nil), (*policy.Limit)(nil),
	(*policy.Mode)(nil), (*policy.Obligations)(nil), (*policy.Options)(nil), (*policy.Path)(nil),
	(*policy.Position)(nil), (*policy.Program)(nil), (*policy.Report)(nil), (*policy.Request)(nil), (*policy.Residual)(nil),
	(*policy.Rule)(nil), (*policy.RuleBudget)(nil), (*policy.RuleLimit)(nil), (*policy.RuleTrace)(nil),
	(*policy.Set)(nil), (*policy.ShadowResult)(nil), (*policy.Step)(nil), (*policy.Tool)(nil),
	(*policy.Variable)(nil), (*policy.Warning)(nil), (*policy.WatchOptions)(nil),
	(*policy.CaseEvent)(nil), (*policy.CaseHistory)(nil), (*policy.Fact)(nil), (*policy.History)(nil), (*policy.HistoryEvent)(nil), (*policy.HistoryState)(nil), (*policy.Reads)(nil),

	(*tools.Answer)(nil), (*tools.ApprovalOptions)(nil), (*tools.ApprovalQueue)(nil), (*tools.ApprovalRequest)(nil),
	(*tools.Approvals)(nil), (*tools.Call)(nil), (*tools.Code)(nil), (*tools.DeniedError)(nil), (*tools.Enforcer)(nil),
	(*tools.Func[payment, string])(nil), (*tools.GrantSpec)(nil), (*tools.Guard[payment, string])(nil),
	(*tools.Handler)(nil), (*tools.Kill)(nil), (*tools.KillScope)(nil), (*tools.KillSet)(nil),
	(*tools.KillSwitch)(nil), (*tools.LimitKey)(nil), (*tools.LimitOptions)(nil), (*tools.LimitStore)(nil),
	(*tools.MemoryApprovals)(nil),
	(*tools.MemorySessions)(nil), (*tools.Options)(nil), (*tools.Registry)(nil), (*tools.SecretFunc)(nil),
	(*tools.SecretSource)(nil), (*tools.Tool)(nil),
	(*tools.Verifier)(nil), (*tools.SessionKey)(nil), (*tools.SessionSnapshot)(nil), (*tools.SessionStore)(nil),
}

// exportedAPI lists, from the source of the core packages, every exported
// function ("pkg.F"), type ("pkg.T") and method ("pkg.T.M", with ptr true for a
// pointer receiver).
func exportedAPI(t *testing.T) (funcs, types map[string]bool, methods map[string]bool) {
	funcs, types, methods = map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, dir := range []string{".", "../policy", "../policy/access", "../audit", "../identity"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		fs := token.NewFileSet()
		for _, ent := range entries {
			if n := ent.Name(); !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fs, filepath.Join(dir, ent.Name()), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			p := f.Name
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() {
						continue
					}
					if d.Recv == nil {
						funcs[p.Name+"."+d.Name.Name] = true
						continue
					}
					rt := d.Recv.List[0].Type
					star, ok := rt.(*ast.StarExpr)
					if ok {
						rt = star.X
					}
					switch x := rt.(type) {
					case *ast.IndexExpr:
						rt = x.X
					case *ast.IndexListExpr:
						rt = x.X
					}
					if id := rt.(*ast.Ident); id.IsExported() {
						methods[p.Name+"."+id.Name+"."+d.Name.Name] = ok
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						// An alias (tools.SessionEvent = policy.HistoryEvent) is probed as the type it names.
						if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() && !ts.Assign.IsValid() {
							types[p.Name+"."+ts.Name.Name] = true
						}
					}
				}
			}
		}
	}
	return funcs, types, methods
}

// typeName is "pkg.T" for a type of the core packages (generic arguments dropped).
func typeName(rt reflect.Type) string {
	n, _, _ := strings.Cut(rt.Name(), "[")
	return rt.PkgPath()[strings.LastIndex(rt.PkgPath(), "/")+1:] + "." + n
}

// probeArgs are the arguments a probe passes: a live ctx (cancelled soon, so
// that nothing blocks), the zero value for everything else, and, in the typed
// variant, a typed nil of a core type for every interface parameter it
// implements.
func probeArgs(ctx context.Context, ft reflect.Type, typedNil reflect.Type) ([]reflect.Value, bool) {
	ctxType := reflect.TypeFor[context.Context]()
	used := false
	var in []reflect.Value
	for i := range ft.NumIn() {
		pt := ft.In(i)
		switch {
		case pt == ctxType && ctx == nil:
			in = append(in, reflect.Zero(pt))
			used = true
		case pt == ctxType:
			in = append(in, reflect.ValueOf(ctx))
		case typedNil != nil && pt.Kind() == reflect.Interface && typedNil.Implements(pt) && pt != reflect.TypeFor[any]() && pt != reflect.TypeFor[error]():
			in = append(in, reflect.Zero(typedNil))
			used = true
		default:
			in = append(in, reflect.Zero(pt))
		}
	}
	return in, used
}

// probeCall calls fn with in, in a goroutine: it reports a panic, or a call that is
// still running after a while.
func probeCall(fn reflect.Value, in []reflect.Value) (failure string) {
	done := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Sprintf("panic: %v", r)
			}
		}()
		if fn.Type().IsVariadic() {
			fn.CallSlice(in)
		} else {
			fn.Call(in)
		}
		done <- ""
	}()
	select {
	case f := <-done:
		return f
	case <-time.After(5 * time.Second):
		return "still running after 5s"
	}
}

// TestZeroValueProbe is the class behind TestZeroValuesNeverPanic: every
// exported function of tools, policy, audit and identity called with zero
// arguments (and with typed nils for its interface parameters), and every
// exported method called on a zero value and, for pointer receivers, on a nil
// pointer, with zero arguments, returns (an error, an empty answer) and never
// panics or hangs.
func TestZeroValueProbe(t *testing.T) {
	funcs, types, methods := exportedAPI(t)
	t.Chdir(t.TempDir()) // a probe given an empty path must not touch the tree
	var missing []string
	for f := range funcs {
		if _, ok := probeFuncs[f]; !ok {
			missing = append(missing, "func "+f)
		}
	}
	listed := map[string]reflect.Type{}
	for _, p := range probeTypes {
		rt := reflect.TypeOf(p).Elem()
		listed[typeName(rt)] = rt
	}
	for ty := range types {
		if _, ok := listed[ty]; !ok {
			missing = append(missing, "type "+ty)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("exported but not in probeFuncs/probeTypes (add them): %s", strings.Join(missing, ", "))
	}

	var nils []reflect.Type // typed nils of every pointer type, for interface parameters
	for _, rt := range listed {
		if rt.Kind() != reflect.Interface {
			nils = append(nils, reflect.PointerTo(rt))
		}
		if rt.Kind() == reflect.Func || rt.Kind() == reflect.Map || rt.Kind() == reflect.Slice {
			nils = append(nils, rt)
		}
	}
	sort.Slice(nils, func(i, j int) bool { return nils[i].String() < nils[j].String() })

	var failures []string
	trace := os.Getenv("MODELGUARD_PROBE_TRACE") != "" // names each probe first: a fatal error names none
	probe := func(name string, fn reflect.Value) {
		if trace {
			fmt.Fprintln(os.Stderr, "probe", name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		in, _ := probeArgs(ctx, fn.Type(), nil)
		if f := probeCall(fn, in); f != "" {
			failures = append(failures, name+": "+f)
		}
		//lint:ignore SA1012 a nil ctx is what is probed
		if in, used := probeArgs(nil, fn.Type(), nil); used {
			if f := probeCall(fn, in); f != "" {
				failures = append(failures, name+"(nil ctx): "+f)
			}
		}
		for _, tn := range nils {
			in, used := probeArgs(ctx, fn.Type(), tn)
			if !used {
				continue
			}
			if f := probeCall(fn, in); f != "" {
				failures = append(failures, fmt.Sprintf("%s(typed nil %v): %s", name, tn, f))
			}
		}
	}
	names := make([]string, 0, len(probeFuncs))
	for n := range probeFuncs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		probe(n, reflect.ValueOf(probeFuncs[n]))
	}
	probed := map[string]bool{}
	for _, p := range probeTypes {
		rt := reflect.TypeOf(p).Elem()
		if rt.Kind() == reflect.Interface {
			continue
		}
		pt := reflect.PointerTo(rt)
		for i := range pt.NumMethod() {
			m := pt.Method(i)
			key := typeName(rt) + "." + m.Name
			ptr, declared := methods[key]
			if !declared {
				continue // promoted from an embedded field: probed there
			}
			probed[key] = true
			probe(key+" on a zero value", reflect.New(rt).Method(i))
			if ptr {
				probe(key+" on a nil pointer", reflect.Zero(pt).Method(i))
			}
		}
	}
	for m := range methods {
		if !probed[m] {
			t.Errorf("method %s was not probed", m)
		}
	}
	sort.Strings(failures)
	for _, f := range failures {
		t.Error(f)
	}
}

// TestNilContextOnLiveGuard: a nil ctx given to a built guard or registry is
// a call without a token: denied and recorded, never a panic.
func TestNilContextOnLiveGuard(t *testing.T) {
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(context.Context, payment) (string, error) { return "ran", nil })
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(w.enf, g)
	if err != nil {
		t.Fatal(err)
	}
	var nilCtx context.Context
	for name, call := range map[string]func() error{
		"Call":             func() error { _, err := g.Call(nilCtx, payment{}); return err },
		"CallJSON":         func() error { _, err := g.CallJSON(nilCtx, json.RawMessage(`{}`)); return err },
		"CallJSON bad":     func() error { _, err := g.CallJSON(nilCtx, json.RawMessage(`{"x":1}`)); return err },
		"Registry.Call":    func() error { _, err := reg.Call(nilCtx, "t", json.RawMessage(`{}`)); return err },
		"Registry unknown": func() error { _, err := reg.Call(nilCtx, "nope", nil); return err },
		"MayCall": func() error {
			if g.MayCall(nilCtx) {
				return nil
			}
			return errNilSafe
		},
		"Visible": func() error {
			if len(reg.Visible(nilCtx)) != 0 {
				return nil
			}
			return errNilSafe
		},
	} {
		w.sink.Reset()
		err, panicked := probe(call)
		switch {
		case panicked || err == nil:
			t.Errorf("%s: err = %v, panicked %v", name, err, panicked)
		case err != errNilSafe && w.sink.Len() != 1:
			t.Errorf("%s: %d records, want the denial recorded", name, w.sink.Len())
		}
	}
}
