package access

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Findings are the entitlements the policy grants that the log shows unused.
type Findings struct {
	// Identities lists, per identity seen, the tools it may call and never
	// called in the window.
	Identities []Entitlements `json:"identities"`
	// PermitsNeverMatched are enforced permit rules that let no call through;
	// ForbidsNeverFired enforced forbid rules that denied none.
	PermitsNeverMatched []string `json:"permits_never_matched"`
	ForbidsNeverFired   []string `json:"forbids_never_fired"`
	// WideArgs are argument bounds far above anything observed.
	WideArgs []WideArg `json:"wide_args"`
}

// Entitlements are the tools one identity may call, split by use.
type Entitlements struct {
	Identity Key      `json:"identity"`
	Used     []string `json:"used"`
	Unused   []string `json:"unused"`
}

// WideArg is an upper bound a permit rule sets on a numeric argument that is at
// least [UnusedOptions].WideFactor times the largest value allowed calls used.
type WideArg struct {
	Rule        string  `json:"rule"`
	Tool        string  `json:"tool"`
	Clause      string  `json:"clause"`
	Bound       float64 `json:"bound"`
	MaxObserved float64 `json:"max_observed"`
}

// UnusedOptions tune [Unused]. The zero value gives the defaults noted.
type UnusedOptions struct {
	// WideFactor: a bound at least this many times the largest observed value
	// is reported as wide. Default 10.
	WideFactor float64
}

// Unused compares what the policy grants with what the usage shows: per identity
// the tools it may call (as [WhatCan] finds them, for the claims of its last
// decision) that it never called; permit rules that never matched; forbid rules
// that never fired; and argument bounds far wider than the recorded arguments of
// allowed calls (only calls whose arguments were recorded count). tools is the
// universe of tools considered; the log's own tools are added to it.
func Unused(ctx context.Context, set *policy.Set, u *Usage, tools []policy.Tool, opts UnusedOptions) (Findings, error) {
	if u == nil || u.ids == nil {
		return Findings{}, fmt.Errorf("%w: Unused needs a Usage from NewUsage", ErrInput)
	}
	if err := set.Ready(); err != nil {
		return Findings{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if opts.WideFactor <= 0 {
		opts.WideFactor = 10
	}
	tools = withTools(tools, u.ToolNames())
	f := Findings{Identities: []Entitlements{}, PermitsNeverMatched: []string{}, ForbidsNeverFired: []string{}, WideArgs: []WideArg{}}
	ps := newPrograms(set)
	for _, iu := range u.sortedIDs() {
		e, err := entitlements(ctx, ps, iu, tools)
		if err != nil {
			return Findings{}, err
		}
		f.Identities = append(f.Identities, e)
	}
	for _, r := range set.Rules() {
		switch {
		case r.Mode == policy.Shadow:
		case r.Effect == policy.Permit && u.rulesAllow[r.ID] == 0:
			f.PermitsNeverMatched = append(f.PermitsNeverMatched, r.ID)
		case r.Effect == policy.Forbid && u.rulesDeny[r.ID] == 0:
			f.ForbidsNeverFired = append(f.ForbidsNeverFired, r.ID)
		}
	}
	wide, err := wideArgs(ctx, set, u, opts.WideFactor)
	f.WideArgs = append(f.WideArgs, wide...)
	return f, err
}

func entitlements(ctx context.Context, ps *programs, iu *identityUse, tools []policy.Tool) (Entitlements, error) {
	e := Entitlements{Identity: iu.key, Used: []string{}, Unused: []string{}}
	claims, err := Claims(iu.latest)
	if err != nil {
		return e, err
	}
	may, err := ps.whatCan(ctx, claims, tools)
	if err != nil {
		return e, err
	}
	for _, a := range may {
		if iu.tools[a.Tool] != nil {
			e.Used = append(e.Used, a.Tool)
		} else {
			e.Unused = append(e.Unused, a.Tool)
		}
	}
	return e, nil
}

// withTools adds the names to tools, keeping each name once.
func withTools(tools []policy.Tool, names []string) []policy.Tool {
	out := slices.Clone(tools)
	for _, n := range names {
		if !slices.ContainsFunc(out, func(t policy.Tool) bool { return t.Name == n }) {
			out = append(out, policy.Tool{Name: n})
		}
	}
	slices.SortFunc(out, func(a, b policy.Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// upperBound matches a residual clause that bounds a top-level argument from
// above: args.amount_cents <= 50000.
var upperBound = regexp.MustCompile(`^args\.([A-Za-z_][A-Za-z0-9_]*) (<=|<) (-?[0-9]+(?:\.[0-9]+)?)$`)

func wideArgs(ctx context.Context, set *policy.Set, u *Usage, factor float64) ([]WideArg, error) {
	var out []WideArg
	for _, tool := range slices.Sorted(maps.Keys(u.argMax)) {
		a, err := WhoCan(ctx, set, policy.Tool{Name: tool})
		if err != nil {
			return nil, err
		}
		for _, p := range a.Permits {
			for _, c := range p.Args {
				m := upperBound.FindStringSubmatch(c)
				if m == nil {
					continue
				}
				bound, _ := strconv.ParseFloat(m[3], 64)
				seen, ok := u.argMax[tool][m[1]]
				if ok && seen > 0 && bound >= factor*seen {
					out = append(out, WideArg{Rule: p.Rule, Tool: tool, Clause: c, Bound: bound, MaxObserved: seen})
				}
			}
		}
	}
	return out, nil
}

// Claims rebuilds the claims a guard decided on from an audit event's identity,
// for re-deciding recorded calls. Claims a guard does not record (aud, exp, raw
// custom claims) are absent.
func Claims(id audit.Identity) (*identity.Claims, error) {
	claims := map[string]any{"iss": id.Issuer, "sub": id.Subject, "jti": id.TokenID, "agent": id.Agent,
		"tenant": id.Tenant, "env": id.Env, "scope": strings.Join(id.Scopes, " "),
		"model": map[string]any{"provider": id.ModelProvider, "name": id.ModelName, "version": id.ModelVersion}}
	var act map[string]any
	for i := len(id.Act) - 1; i >= 0; i-- {
		next := map[string]any{"sub": id.Act[i]}
		if act != nil {
			next["act"] = act
		}
		act = next
	}
	if act != nil {
		claims["act"] = act
	}
	c, err := identity.UnsafeClaimsFromMap(claims)
	if err != nil {
		return nil, fmt.Errorf("%w: recorded identity: %w", ErrInput, err)
	}
	return c, nil
}
