package main

import (
	"fmt"
	"io"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

const elevateAbout = `Elevate signs a temporary elevation: a reusable grant that lets the model
identity -sub call the -tool tools (names or globs) until it expires, where
policy permits calls under a grant (rules testing grant.present). A -constraint
(CEL over identity, tool, args, request) narrows what the grant covers. The
grant is printed; the application attaches it to the model's calls with
tools.WithGrant. Every use records -approver in the audit log.`

func runApproveElevate(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard approve elevate", "-key approver.jwk -iss ISSUER -aud AUD -sub SUB -model-iss ISSUER -tool T... -approver NAME [-ttl 30m] [-constraint CEL]", elevateAbout)
	keyPath := fset.String("key", "", "the approver's private JWK `file`")
	iss := fset.String("iss", "", "grant issuer: the `url` guards trust for grants")
	var aud, toolList listFlag
	fset.Var(&aud, "aud", "`audience` of the guards (repeatable)")
	fset.Var(&toolList, "tool", "`tool` name or glob the grant covers (repeatable)")
	sub := fset.String("sub", "", "the model identity's subject")
	modelIss := fset.String("model-iss", "", "the model identity's issuer")
	approver := fset.String("approver", "", "who grants (recorded in every use)")
	constraint := fset.String("constraint", "", "CEL condition the call must meet")
	ttl := fset.Duration("ttl", 30*time.Minute, "how long the elevation lasts")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) > 0 || *keyPath == "" || *iss == "" || len(aud) == 0 || *sub == "" || *modelIss == "" || len(toolList) == 0 || *approver == "" {
		return usageError(fset, stderr, "need -key, -iss, -aud, -sub, -model-iss, -tool and -approver")
	}
	if *ttl <= 0 || *ttl > time.Hour {
		return usageError(fset, stderr, "-ttl must be in (0, 1h]")
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	gi, err := tools.NewGrantIssuer(*iss, key, identity.IssuerOptions{TTL: *ttl})
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	grant, err := tools.MintGrant(gi, tools.GrantSpec{ModelIssuer: *modelIss, Subject: *sub, Audience: aud, Tools: toolList,
		Constraint: *constraint, Approver: *approver, Reusable: true})
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintln(stdout, grant)
	fmt.Fprintf(stderr, "elevation for %s on %v until %s\n", *sub, []string(toolList), time.Now().Add(*ttl).UTC().Format(time.RFC3339))
	return exitOK
}
