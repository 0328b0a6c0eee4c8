// Package policy decides, with CEL, whether an identity may call a tool with given
// arguments.
//
// # Rules
//
// A policy is a list of [Rule] values, written in YAML or built in Go, and
// combined from any number of files into a [Set]:
//
//	rules:
//	  - id: tickets-read
//	    effect: permit
//	    tools: ["tickets.get", "tickets.search"]
//	    when: identity.agent == "support-bot" && "tickets:read" in identity.scopes
//	    controls: [NIST-CSF-PR.AA-05]
//	  - id: no-attachment-export
//	    effect: forbid
//	    tools: ["attachments.export"]
//	    message: "'attachment export is blocked for ' + identity.sub"
//
// A rule covers tools by name or glob ([MatchTool]: '*' is any run of characters,
// '/' included, since tool names are not paths; '?' one character; '\' escapes)
// and, optionally, by
// labels. when is a CEL expression that must yield a bool (empty means true);
// message is the reason shown when the rule decides: a CEL expression that yields
// a string, or plain text where it is not CEL (text that does not parse, or a word
// that names no variable: "path traversal is not allowed");
// controls are free tags carried into every audit event the rule decides.
//
// A document may also set a mode for its rules and define variables: named
// sub-expressions its rules use as variables.NAME, inlined at compile time:
//
//	mode: enforce            # or shadow: evaluate and report, never decide
//	variables:
//	  - name: finance_bot
//	    expression: identity.agent == "finance-bot"
//	rules:
//	  - id: payments
//	    effect: permit
//	    tools: ["payments.initiate"]
//	    when: variables.finance_bot && args.amount_cents <= 50000
//	    require: [approval]                        # a human approval grant
//	    limit: {rate: 10/m, burst: 3, per: agent}  # token bucket
//	    budget: {expr: args.amount_cents, max: 500000, window: 24h, per: agent}
//	    redact: ["receipt.card_number"]            # output paths
//
// # Obligations
//
// A permit rule may oblige the guard to more than letting the call through: a
// human approval grant (require), a rate limit (limit), a running budget over a
// window (budget, whose amount the decision evaluates) and output redaction
// (redact), and labels its output carries into the session (add_labels, plain
// text or CEL such as "'invoice:' + args.invoice_id"). A decision's [Obligations] are the union of those of every permit
// that matched. Forbid rules carry none.
//
// # Shadow mode
//
// A rule (or a whole file) in shadow mode is evaluated and reported in
// [Decision].Shadow, with what the decision would have been had it been
// enforced ([Decision.WouldFlip]), but never changes the decision: stage a rule,
// watch the audit log, then enforce it.
//
// # What CEL sees
//
//   - identity: the verified claims (identity.sub, identity.iss, identity.agent,
//     identity.tenant, identity.env, identity.scopes, identity.model.name,
//     identity.act, identity.claims["custom"], …).
//   - tool: tool.name and tool.labels.
//   - args: the tool's input, typed from its Go type, with fields named as in
//     their JSON tags.
//   - request: request.time, request.session, request.prompt, request.trace,
//     request.call, and request.secrets (the names of the secrets the tool needs).
//   - grant: the human approval grant the call carries, if any: grant.present,
//     grant.approver, grant.tools, grant.exp, grant.claims. Rules that test
//     grant.present grant temporary elevation.
//   - session and history: what came before the call, in its session and for
//     its principal (agent, or subject) across sessions, both of type
//     modelguard.History: .id, .labels, .calls, .age, and .count(glob),
//     .seen(label), .approved(glob), each with an optional window
//     (session.count("payments.initiate") < 3, history.seen("customer_pii",
//     duration("24h"))). See [History]. [Program.Reads] says, from compile time,
//     which of the two a tool's rules read; a rule that reads one the input
//     does not carry fails, and so denies.
//
// # Semantics
//
// Deny by default: a call is allowed only when a permit rule matches and no forbid
// rule does. A forbid wins over any permit. A rule whose evaluation fails (an
// error, a non-bool result, the cost limit, a cancelled context) counts as a
// matching forbid, unlike engines that skip it. Every covering rule is evaluated,
// so the [Decision] lists all rules that decided and every error.
//
// # Compile once, decide many
//
// [NewSet] parses and checks every rule and reports every problem at once, each
// with file:line:col and the rule id. [Set.Compile] type-checks the rules that
// cover one tool against that tool's Go input type, so a misspelled argument field
// is a start-up error naming the file, line, column, rule and tool, never a silent
// deny at run time. [Program.Decide] only evaluates.
//
// # Two channels
//
// A [Decision] keeps the model's view apart from the operator's: Messages holds
// only the messages of the deciding rules (safe to show a model: no rule ids, no
// other tools), Reasons the full explanation for the audit log.
//
// # Tools for policy authors
//
// [Program.Explain] shows, for one call, what every rule did and which clauses
// of a failing condition were false. [Set.Lint] warns of rules that cover no
// registered tool, globs that match none, permits made unreachable by an
// unconditional forbid, and unused variables. [Set.Test] runs YAML test cases
// ([ParseCases]) and reports rule coverage; package policytest runs them from go
// test. [Watch] reloads changed files; tools.Enforcer.WatchPolicy swaps them in.
// [Program.MayAllow] tells whether an identity could call a tool at all, for
// filtering the tools a model is shown.
//
// # Safety
//
// Expressions are bounded in size and nesting; their worst-case cost is estimated
// at load (assuming strings, lists and maps of at most [Options].SizeHint) and
// rejected above [Options].CostBudget. Expressions with comprehensions also run
// under a runtime cost limit and honour context cancellation. Without loops an
// expression is linear in its (bounded) inputs; to keep it so, matches() takes
// its pattern as a string literal only (compiled once, with the rule; RE2 runs
// it in linear time): a pattern from the arguments is refused at load.
package policy
