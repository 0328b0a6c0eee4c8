package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

const replayAbout = `Replay re-decides every policy decision recorded in an audit log under the
policy in FILE... and reports each decision that would flip, with the rules
on both sides. Calls denied before policy (no or bad token, bad arguments)
are skipped. Rules on arguments can be replayed only for calls whose
arguments were recorded (tools.Options.RecordArgs); others that depend on
them are reported as not replayable. Tool labels are not in the log: give
them with -tool. Rules on session history replay from the facts each
decision event recorded (labels, counts); a fact the recorded decision did
not read is reported as not replayable. With -fail-on-flip, exit 1 when any decision flips.`

func runPolicyReplay(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy replay", "-audit LOG [-tool name[=label,...]]... [-fail-on-flip] FILE...", replayAbout)
	logPath := fset.String("audit", "", "the audit `log` to replay")
	failOnFlip := fset.Bool("fail-on-flip", false, "exit 1 if a decision would flip")
	var tools toolsFlag
	fset.Var(&tools, "tool", "labels of a tool `name[=label,...]` (repeatable)")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *logPath == "" || len(files) == 0 {
		return usageError(fset, stderr, "need -audit and at least one policy file")
	}
	set, err := policy.Load(policy.Options{}, files...)
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	log, err := audit.OpenLog(*logPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	r := replayer{set: set, tools: tools, progs: map[string]*policy.Program{}}
	if err := log.Events(r.event); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	r.print(stdout)
	if *failOnFlip && len(r.flips) > 0 {
		return exitFail
	}
	return exitOK
}

type replayer struct {
	set     *policy.Set
	tools   []policy.Tool
	progs   map[string]*policy.Program
	decided int
	flips   []flip
	unknown []flip
}

type flip struct {
	ev  audit.Event
	now policy.Decision
	why string
}

// skipped are the reason codes of denials made before the policy was consulted.
var skipped = map[string]bool{"unauthenticated": true, "bad_arguments": true, "audit_failed": true}

func (r *replayer) event(ev audit.Event) error {
	if ev.Phase != audit.PhaseDecision || skipped[ev.Code] {
		return nil
	}
	prog, err := r.program(ev.Tool)
	if err != nil {
		return err
	}
	in, err := replayInput(ev)
	if err != nil {
		r.unknown = append(r.unknown, flip{ev: ev, why: err.Error()})
		return nil
	}
	if reads, _ := prog.Reads(); (reads.Session && in.Session == nil) || (reads.Principal && in.Principal == nil) {
		r.unknown = append(r.unknown, flip{ev: ev, why: "the rules read session history the event did not record"})
		return nil
	}
	d := prog.Decide(context.Background(), in)
	r.decided++
	was := ev.Decision == audit.Allow
	switch {
	case len(d.Errors) > 0 && strings.Contains(d.Errors[0].Error(), "was not recorded"):
		r.unknown = append(r.unknown, flip{ev: ev, now: d, why: "history fact not recorded: " + d.Errors[0].Error()})
	case len(d.Errors) > 0 && ev.Args == nil:
		r.unknown = append(r.unknown, flip{ev: ev, now: d, why: "arguments not recorded: " + d.Errors[0].Error()})
	case d.Allowed != was:
		r.flips = append(r.flips, flip{ev: ev, now: d})
	}
	return nil
}

func (r *replayer) program(tool string) (*policy.Program, error) {
	if p, ok := r.progs[tool]; ok {
		return p, nil
	}
	t := policy.Tool{Name: tool}
	for _, x := range r.tools {
		if x.Name == tool {
			t = x
		}
	}
	p, err := r.set.Compile(t)
	if err != nil {
		return nil, err
	}
	r.progs[tool] = p
	return p, nil
}

// replayInput rebuilds what the guard decided on from a decision event.
func replayInput(ev audit.Event) (policy.Input, error) {
	id := ev.Identity
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
		return policy.Input{}, err
	}
	var args any
	if ev.Args != nil {
		if err := json.Unmarshal(ev.Args, &args); err != nil {
			return policy.Input{}, fmt.Errorf("recorded arguments: %w", err)
		}
	}
	in := policy.Input{Identity: c, Args: args, Request: policy.Request{Time: ev.Time, SessionID: ev.SessionID,
		PromptID: ev.PromptID, TraceID: ev.TraceID, CallID: ev.CallID}}
	if h := ev.History; h != nil {
		in.Session, in.Principal = replayHistory(h.Session), replayHistory(h.Principal)
	}
	return in, nil
}

// replayHistory is a recorded history: its fields and the function results
// the decision read, which are all a replay under the same rules needs.
func replayHistory(h *audit.HistoryFacts) *policy.History {
	if h == nil {
		return nil
	}
	facts := make([]policy.Fact, len(h.Facts))
	for i, f := range h.Facts {
		facts[i] = policy.Fact{Func: f.Func, Arg: f.Arg, Window: f.Window, Value: f.Value}
	}
	return policy.ReplayHistory(h.ID, h.Labels, h.Calls, h.Age, facts)
}

func (r *replayer) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.flips) > 0 {
		fmt.Fprintln(tw, "SEQ\tTIME\tTOOL\tSUBJECT\tRECORDED\tNOW")
	}
	for _, f := range r.flips {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", f.ev.Seq, f.ev.Time.Format("2006-01-02T15:04:05Z07:00"), f.ev.Tool,
			f.ev.Identity.Subject, side(f.ev.Decision == audit.Allow, f.ev.Rules), side(f.now.Allowed, f.now.Rules))
	}
	tw.Flush()
	for _, u := range r.unknown {
		fmt.Fprintf(w, "not replayable: seq %d %s: %s\n", u.ev.Seq, u.ev.Tool, u.why)
	}
	fmt.Fprintf(w, "%d decisions replayed, %d would flip, %d not replayable\n", r.decided, len(r.flips), len(r.unknown))
}

func side(allowed bool, rules []string) string {
	s := "deny"
	if allowed {
		s = "allow"
	}
	if len(rules) == 0 {
		return s + " (no rule)"
	}
	return s + " (" + strings.Join(rules, ", ") + ")"
}
