package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/approvalpg"
)

const approveAbout = `Approve works the PostgreSQL approval queue that guards file requests in
(package tools/approvalpg). list shows requests; grant signs a grant with the
approver's private key, bound to the request's subject, tool and exact
arguments, and marks the request approved so that any instance picks it up;
deny marks it denied. The database is -db or $MODELGUARD_APPROVALS_DB.`

// queueFlags are the flags every approve command shares.
type queueFlags struct{ dbFlags }

func (q *queueFlags) register(fset interface {
	StringVar(*string, string, string, string)
}) {
	q.env, q.what = "MODELGUARD_APPROVALS_DB", "approval queue"
	q.dbFlags.register(fset)
}

func (q *queueFlags) open(ctx context.Context) (*approvalpg.Queue, func(), error) {
	return openStore(ctx, &q.dbFlags, func(ctx context.Context, pool *pgxpool.Pool, prefix string) (*approvalpg.Queue, error) {
		return approvalpg.New(ctx, pool, approvalpg.Options{Prefix: prefix})
	})
}

func runApproveList(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard approve list", "[-db DSN] [-status pending|approved|denied|all] [-json]", approveAbout)
	var qf queueFlags
	qf.register(fset)
	status := fset.String("status", tools.StatusPending, "which requests to list")
	asJSON := fset.Bool("json", false, "print JSON")
	if pos, code, ok := parseFlags(fset, args, stdout, stderr); !ok {
		return code
	} else if len(pos) > 0 {
		return usageError(fset, stderr, "unexpected arguments %q", pos)
	}
	ctx := context.Background()
	q, closeDB, err := qf.open(ctx)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	defer closeDB()
	st := *status
	if st == "all" {
		st = ""
	}
	reqs, err := q.List(ctx, st)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return exitIf(enc.Encode(reqs), stderr, fset.Name())
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSUBJECT\tAGENT\tTOOL\tARGS\tSTATUS\tAPPROVER")
	for _, r := range reqs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Time.Format(time.RFC3339), r.Subject, r.Agent, r.Tool,
			string(r.Args), r.Status, r.Approver)
	}
	tw.Flush()
	return exitOK
}

func runApproveGrant(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard approve grant", "-key approver.jwk -iss ISSUER -aud AUD -approver NAME [-ttl 15m] [-db DSN] ID", approveAbout)
	var qf queueFlags
	qf.register(fset)
	keyPath := fset.String("key", "", "the approver's private JWK `file`")
	iss := fset.String("iss", "", "grant issuer: the `url` guards trust for grants")
	var aud listFlag
	fset.Var(&aud, "aud", "`audience` of the guards (repeatable)")
	approver := fset.String("approver", "", "who approves (recorded in every use)")
	ttl := fset.Duration("ttl", 15*time.Minute, "how long the grant lasts")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *keyPath == "" || *iss == "" || len(aud) == 0 || *approver == "" {
		return usageError(fset, stderr, "need -key, -iss, -aud, -approver and one request ID")
	}
	if *ttl <= 0 || *ttl > time.Hour {
		return usageError(fset, stderr, "-ttl must be in (0, 1h]")
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	ctx := context.Background()
	q, closeDB, err := qf.open(ctx)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	defer closeDB()
	gi, err := tools.NewGrantIssuer(*iss, key, identity.IssuerOptions{TTL: *ttl})
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	req, err := tools.ApproveRequest(ctx, q, gi, pos[0], tools.Answer{Approver: *approver, Audience: aud})
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "approved %s: %s may call %s with arguments %s once, within %v\n", req.ID, req.Subject, req.Tool, req.ArgsDigest, *ttl)
	return exitOK
}

func runApproveDeny(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard approve deny", "-approver NAME [-note TEXT] [-db DSN] ID", approveAbout)
	var qf queueFlags
	qf.register(fset)
	approver := fset.String("approver", "", "who denies")
	note := fset.String("note", "", "why")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *approver == "" {
		return usageError(fset, stderr, "need -approver and one request ID")
	}
	ctx := context.Background()
	q, closeDB, err := qf.open(ctx)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	defer closeDB()
	if err := q.Deny(ctx, pos[0], *approver, *note); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "denied %s\n", pos[0])
	return exitOK
}
