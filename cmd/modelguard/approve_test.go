package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/approvalpg"
)

func TestApproveCommands(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES (see .ci/postgres) to run PostgreSQL tests")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "cli" + hex.EncodeToString(b[:]) + "_"
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q, err := approvalpg.New(ctx, pool, approvalpg.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	req, err := q.Request(ctx, tools.ApprovalRequest{Issuer: "https://id", Subject: "model:fin", Agent: "finance-bot",
		Tool: "payments.initiate", ArgsDigest: "sha256:abc", Args: []byte(`{"amount_cents":12000}`)})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := q.Request(ctx, tools.ApprovalRequest{Issuer: "https://id", Subject: "model:fin", Tool: "payments.initiate", ArgsDigest: "sha256:def"})
	dir := t.TempDir()
	key, pub, _ := keygen(t, dir)
	db := []string{"-db", dsn, "-prefix", prefix}

	code, out, errOut := runCLI(t, append([]string{"approve", "list"}, db...)...)
	if code != exitOK || !strings.Contains(out, req.ID) || !strings.Contains(out, `{"amount_cents": 12000}`) || !strings.Contains(out, "pending") {
		t.Fatalf("list: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"approve", "grant", "-key", key, "-iss", "https://approvals", "-aud", "svc",
		"-approver", "alice@example.com", req.ID}, db...)...)
	if code != exitOK || !strings.Contains(out, "approved "+req.ID) {
		t.Fatalf("grant: %d\n%s%s", code, out, errOut)
	}
	grants, err := q.Grants(ctx, "https://id", "model:fin", "payments.initiate")
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants = %v, %v", grants, err)
	}
	keys, err := identity.LoadKeySet(pub)
	if err != nil {
		t.Fatal(err)
	}
	gv, _ := tools.NewGrantVerifier("https://approvals", "svc", keys, identity.VerifierOptions{})
	c, err := gv.Verify(ctx, grants[0])
	if err != nil || c.Subject != "model:fin" || c.Raw["args_digest"] != "sha256:abc" || c.Raw["approver"] != "alice@example.com" ||
		c.Raw["request"] != req.ID || c.Raw["model_iss"] != "https://id" {
		t.Fatalf("grant claims = %+v, %v", c, err)
	}
	if code, _, errOut = runCLI(t, append([]string{"approve", "deny", "-approver", "bob", req.ID}, db...)...); code != exitFail || !strings.Contains(errOut, "already decided") {
		t.Fatalf("deny an approved request: %d %s", code, errOut)
	}
	if code, out, _ = runCLI(t, append([]string{"approve", "deny", "-approver", "bob", "-note", "no", other.ID}, db...)...); code != exitOK {
		t.Fatalf("deny: %d %s", code, out)
	}
	if code, out, _ = runCLI(t, append([]string{"approve", "list", "-status", "all", "-json"}, db...)...); code != exitOK ||
		strings.Count(out, `"status": "approved"`) != 1 || strings.Count(out, `"status": "denied"`) != 1 {
		t.Fatalf("list all: %d\n%s", code, out)
	}
	if code, _, _ = runCLI(t, "approve", "grant", req.ID); code != exitUsage {
		t.Fatalf("grant without flags: %d", code)
	}
}

func TestApproveElevate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, pub, _ := keygen(t, dir)
	code, out, errOut := runCLI(t, "approve", "elevate", "-key", key, "-iss", "https://approvals", "-aud", "svc", "-sub", "model:coder",
		"-model-iss", "https://id", "-tool", "deploy.*", "-approver", "bob@example.com", "-ttl", "20m", "-constraint", `tool.name != "deploy.db"`)
	if code != exitOK {
		t.Fatalf("elevate: %d %s", code, errOut)
	}
	keys, err := identity.LoadKeySet(pub)
	if err != nil {
		t.Fatal(err)
	}
	gv, _ := tools.NewGrantVerifier("https://approvals", "svc", keys, identity.VerifierOptions{})
	c, err := gv.Verify(context.Background(), strings.TrimSpace(out))
	if err != nil || c.Subject != "model:coder" || c.Raw["reusable"] != true || c.Raw["constraint"] != `tool.name != "deploy.db"` ||
		c.Expiry.Sub(c.IssuedAt) != 20*time.Minute {
		t.Fatalf("elevation grant = %+v, %v", c, err)
	}
	if code, _, _ = runCLI(t, "approve", "elevate", "-key", key, "-iss", "x", "-aud", "svc", "-sub", "s", "-model-iss", "i", "-approver", "a"); code != exitUsage {
		t.Fatalf("elevate without -tool: %d", code)
	}
}
