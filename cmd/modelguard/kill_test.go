package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools/fleetpg"
)

func TestKillCommandsUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"kill", "agent", "-db", "x", "bot"},             // no -by
		{"kill", "agent", "-by", "a", "-db", "x"},        // no name
		{"kill", "all", "-by", "a", "-db", "x", "extra"}, // all takes no name
		{"kill", "lift", "-db", "x", "1"},                // no -by
		{"kill", "list", "-db", "x", "extra"},            // no args
		{"kill", "galaxy", "x"},                          // unknown scope
	} {
		if code, _, errOut := runCLI(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want usage error\n%s", args, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "kill", "agent", "-db", "", "-by", "a", "bot"); code != exitFail || !strings.Contains(errOut, "no database") {
		t.Errorf("no database: %d %s", code, errOut)
	}
}

func TestKillCommands(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES (see .ci/postgres) to run PostgreSQL tests")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "cli" + hex.EncodeToString(b[:]) + "_"
	db := []string{"-db", dsn, "-prefix", prefix}
	code, out, errOut := runCLI(t, append([]string{"kill", "agent", "-by", "alice", "-reason", "runaway loop", "support-bot"}, db...)...)
	if code != exitOK || !strings.Contains(out, "activated kill switch 1 (agent \"support-bot\") by alice") {
		t.Fatalf("kill agent: %d\n%s%s", code, out, errOut)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	kills, err := fleetpg.NewKills(ctx, pool, fleetpg.KillOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := kills.Stopped(ctx, &identity.Claims{Agent: "support-bot"}, "t"); err != nil || k == nil || k.By != "alice" {
		t.Fatalf("an instance does not see the CLI's kill: %v %v", k, err)
	}
	code, out, _ = runCLI(t, append([]string{"kill", "list"}, db...)...)
	if code != exitOK || !strings.Contains(out, "support-bot") || !strings.Contains(out, "runaway loop") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, out, errOut = runCLI(t, append([]string{"kill", "lift", "-by", "bob", "1"}, db...)...); code != exitOK || !strings.Contains(out, "lifted") {
		t.Fatalf("lift: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut = runCLI(t, append([]string{"kill", "lift", "-by", "bob", "1"}, db...)...); code != exitFail || !strings.Contains(errOut, "no active kill switch 1") {
		t.Fatalf("second lift: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, append([]string{"kill", "list", "-history"}, db...)...)
	if code != exitOK || !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Fatalf("history: %d\n%s", code, out)
	}
	if err := kills.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := kills.Stopped(ctx, &identity.Claims{Agent: "support-bot"}, "t"); k != nil {
		t.Fatalf("lifted kill still stops: %v", k)
	}
	if code, out, _ = runCLI(t, append([]string{"kill", "all", "-by", "carol"}, db...)...); code != exitOK || !strings.Contains(out, "everything") {
		t.Fatalf("kill all: %d %s", code, out)
	}
}
