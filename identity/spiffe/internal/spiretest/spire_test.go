package spiretest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/spiffe"
	"github.com/modelguard/modelguard/identity/spiffe/internal/spiretest"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

const (
	workload = "spiffe://" + spiretest.TrustDomain + "/model/test"
	audience = "modelguard-tools"
)

const rules = `
rules:
  - id: spiffe-models
    effect: permit
    tools: ["models.describe"]
    when: identity.spiffe_id == "` + workload + `" && identity.trust_domain == "` + spiretest.TrustDomain + `"
`

type describeIn struct {
	Name string `json:"name"`
}

// TestSPIRE runs a real SPIRE server and agent, registers this test process
// as a workload (by its uid), fetches JWT-SVIDs from the agent's Workload API
// and presents them to a guarded tool whose verifier streams the trust bundle
// from the same API.
func TestSPIRE(t *testing.T) {
	bin := spiretest.Bin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := spiretest.Start(t, ctx, bin)
	c.CreateEntry(t, ctx, workload, fmt.Sprintf("unix:uid:%d", os.Getuid()))
	addr := workloadapi.WithAddr(c.AgentSocket)

	ours := fetch(t, ctx, audience, addr)
	theirs := fetch(t, ctx, "someone-else", addr)
	if ours.ID.String() != workload {
		t.Fatalf("SVID for %s, want %s", ours.ID, workload)
	}

	v, err := spiffe.NewWorkloadVerifier(ctx, audience, spiffeid.MatchID(spiffeid.RequireFromString(workload)), identity.VerifierOptions{}, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	describe, log := guarded(t, v)

	out, err := describe(identity.WithToken(ctx, ours.Marshal()), describeIn{Name: "m"})
	if err != nil || out != "model m" {
		t.Fatalf("guarded call with our SVID: %q, %v", out, err)
	}
	_, err = describe(identity.WithToken(ctx, theirs.Marshal()), describeIn{Name: "m"})
	if !errors.Is(err, tools.ErrUnauthenticated) || !errors.Is(err, identity.ErrAudience) {
		t.Fatalf("SVID for another audience: %v, want ErrUnauthenticated and ErrAudience", err)
	}
	if ev := log.Events(); len(ev) < 3 || ev[0].Identity.Subject != workload {
		t.Errorf("audit events: %+v", ev)
	}
	otherWorkload(t, ctx, ours.Marshal(), addr)
}

// otherWorkload checks that a verifier expecting another workload refuses a
// valid SVID by its SPIFFE ID.
func otherWorkload(t *testing.T, ctx context.Context, token string, addr workloadapi.ClientOption) {
	t.Helper()
	other := spiffeid.RequireFromString("spiffe://" + spiretest.TrustDomain + "/model/other")
	v, err := spiffe.NewWorkloadVerifier(ctx, audience, spiffeid.MatchID(other), identity.VerifierOptions{}, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Verify(ctx, token); !errors.Is(err, spiffe.ErrID) {
		t.Fatalf("SVID of another workload: %v, want spiffe.ErrID", err)
	}
}

// fetch polls the Workload API until the agent has synced the entry and
// hands out a JWT-SVID for aud.
func fetch(t *testing.T, ctx context.Context, aud string, addr workloadapi.ClientOption) *jwtsvid.SVID {
	t.Helper()
	var svid *jwtsvid.SVID
	err := spiretest.Poll(ctx, 500*time.Millisecond, func() error {
		var err error
		svid, err = workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: aud}, addr)
		return err
	})
	if err != nil {
		t.Fatalf("fetch JWT-SVID for %s: %v", aud, err)
	}
	return svid
}

// guarded wraps a tool with an enforcer that uses v and a policy that permits
// the test workload by its SPIFFE ID.
func guarded(t *testing.T, v *spiffe.Verifier) (func(context.Context, describeIn) (string, error), *audit.Memory) {
	t.Helper()
	p, err := policy.Parse("spiffe.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(p, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := &audit.Memory{}
	enf, err := tools.NewEnforcer(v, set, log, tools.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fn, err := tools.Wrap(enf, tools.Tool{Name: "models.describe"}, func(_ context.Context, in describeIn) (string, error) {
		return "model " + in.Name, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fn, log
}
