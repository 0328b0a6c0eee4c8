# The peer benchmark's policy in Rego. input is {"identity": {sub, agent, env,
# scopes}, "tool": name, "args": {...}}. permits and forbids collect the ids of
# the matching rules, named as the equivalent modelguard rules are.
package peerbench

# Deny by default; a forbid wins over any permit.
default allow := false

allow if {
	count(permits) > 0
	count(forbids) == 0
}

# deciding are the rules that decided, as modelguard's Decision.Rules and
# Cedar's Diagnostic.Reasons report them: the matching forbids of a denial, else
# the matching permits (none for a default deny). Only the tests query it; the
# benchmark queries allow alone.
deciding := forbids if {
	count(forbids) > 0
} else := permits

# (a) The support agent reads tickets with the tickets:read scope.
permits contains "tickets-read" if {
	input.tool == "tickets.get"
	input.identity.agent == "support-bot"
	"tickets:read" in input.identity.scopes
}

# (a) Nobody exports attachments.
forbids contains "no-attachment-export" if {
	input.tool == "attachments.export"
}

# (b) The finance model initiates payments of at most 500.00 ...
permits contains "payments-initiate" if {
	input.tool == "payments.initiate"
	input.identity.agent == "finance-bot"
	input.args.amount_cents <= 50000
}

# (b) ... and only in production.
forbids contains "payments-prod-only" if {
	input.tool == "payments.initiate"
	input.identity.env != "prod"
}

# (c) The coding assistant reads the repository under src/.
permits contains "repo-read-src" if {
	input.tool == "repo.read"
	input.identity.agent == "coding-assistant"
	startswith(input.args.path, "src/")
}

# (c) Production secrets stay out of every model's reach.
forbids contains "no-prod-secrets" if {
	input.tool == "secrets.get"
	startswith(input.args.name, "prod/")
}
