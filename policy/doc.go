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
// A rule covers tools by name or glob (path.Match syntax) and, optionally, by
// labels. when is a CEL expression that must yield a bool (empty means true);
// message is a CEL expression that yields the reason shown when the rule decides;
// controls are free tags carried into every audit event the rule decides.
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
//     request.call.
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
// # Safety
//
// Expressions are bounded in size and nesting; their worst-case cost is estimated
// at load (assuming strings, lists and maps of at most [Options].SizeHint) and
// rejected above [Options].CostBudget. Expressions with comprehensions also run
// under a runtime cost limit and honour context cancellation.
package policy
