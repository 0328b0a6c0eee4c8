// Package access analyses least privilege for model identities: who may call a
// tool and what an identity may call, from the compiled policy alone; which
// identities an audit log saw and what they used; and which entitlements the
// policy grants that the log shows unused.
//
// # Who can, what can
//
// [WhoCan] and [WhatCan] read a [policy.Set] by CEL partial evaluation
// ([policy.Program.Residuals]): each enforced rule covering a tool is reduced to
// what its condition still asks once the known variables are substituted, split
// into clauses on the identity, on the arguments, and on the rest (the request,
// an approval grant), with the rule's obligations. They answer for exactly the
// type-checked conditions a guard evaluates; shadow rules decide nothing and
// are left out.
//
// # Usage, inventory, unused
//
// A [Usage] is built from an audit log's events in one pass and keeps counts,
// not events: a log of a million records needs little memory.
// [Usage.Inventory] lists the identities seen; [Unused] crosses the policy with
// the usage. Identities are re-decided with the claims a guard records
// ([Claims]); claims it does not record (aud, exp, custom claims) are absent,
// so a rule that tests them is judged without them.
//
// # Where it sits
//
// The package imports policy, identity and audit, and none of them imports it
// (policy still imports only identity; audit none of ours), so it adds no edge
// against the design's dependency direction: like policy/bundle, it is a
// consumer of policy, kept beside it because it reads policies. tools does not
// import it either; the CLI (modelguard access …) does.
package access
