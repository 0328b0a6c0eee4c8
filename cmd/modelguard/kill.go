package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/fleetpg"
)

const killAbout = `Kill stops calls on every instance that shares the kill switch table
(package tools/fleetpg): "kill agent NAME" stops every call by that agent, and
likewise subject, tenant and tool; "kill all" stops everything. Instances hear
of it at once (LISTEN/NOTIFY) and deny with code "killed" before policy. Each
activation and lift keeps who did it (-by, required). The database is -db or
$MODELGUARD_FLEET_DB.`

func killCommands() []command {
	var cmds []command
	for _, s := range []tools.KillScope{tools.KillAgent, tools.KillSubject, tools.KillTenant, tools.KillTool, tools.KillAll} {
		summary := "stop every call by the " + string(s) + " named"
		switch s {
		case tools.KillTool:
			summary = "stop every call to the tool named"
		case tools.KillAll:
			summary = "stop every call"
		}
		cmds = append(cmds, command{name: string(s), summary: summary, run: func(args []string, stdout, stderr io.Writer) int {
			return runKillActivate(s, args, stdout, stderr)
		}})
	}
	return append(cmds,
		command{name: "lift", summary: "lift a kill switch by id", run: runKillLift},
		command{name: "list", summary: "list active kill switches (-history: all, with lifts)", run: runKillList})
}

// killFlags are the flags every kill command shares.
type killFlags struct{ dbFlags }

func (k *killFlags) register(fset interface {
	StringVar(*string, string, string, string)
}) {
	k.env, k.what = "MODELGUARD_FLEET_DB", "fleet tables"
	k.dbFlags.register(fset)
}

func (k *killFlags) open(ctx context.Context) (*fleetpg.Kills, func(), error) {
	return openStore(ctx, &k.dbFlags, func(ctx context.Context, pool *pgxpool.Pool, prefix string) (*fleetpg.Kills, error) {
		return fleetpg.NewKills(ctx, pool, fleetpg.KillOptions{Prefix: prefix})
	})
}

func runKillActivate(scope tools.KillScope, args []string, stdout, stderr io.Writer) int {
	synopsis := "-by WHO [-reason TEXT] [-db DSN] NAME"
	if scope == tools.KillAll {
		synopsis = "-by WHO [-reason TEXT] [-db DSN]"
	}
	fset := newFlagSet("modelguard kill "+string(scope), synopsis, killAbout)
	var kf killFlags
	kf.register(fset)
	by := fset.String("by", "", "who activates the kill switch (recorded)")
	reason := fset.String("reason", "", "why (recorded, shown to operators)")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	want := 1
	if scope == tools.KillAll {
		want = 0
	}
	if len(pos) != want {
		return usageError(fset, stderr, "want %d name argument(s), have %q", want, pos)
	}
	if *by == "" {
		return usageError(fset, stderr, "-by is required: every kill switch says who pulled it")
	}
	k := tools.Kill{Scope: scope, By: *by, Reason: *reason}
	if want == 1 {
		k.Value = pos[0]
	}
	if err := k.Check(); err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	ctx := context.Background()
	kills, closeDB, err := kf.open(ctx)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	defer closeDB()
	k, err = kills.Activate(ctx, k)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "activated %s by %s\n", k.String(), k.By)
	return exitOK
}

func runKillLift(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard kill lift", "-by WHO [-db DSN] ID", killAbout)
	var kf killFlags
	kf.register(fset)
	by := fset.String("by", "", "who lifts the kill switch (recorded)")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *by == "" {
		return usageError(fset, stderr, "need -by and one kill switch ID")
	}
	ctx := context.Background()
	kills, closeDB, err := kf.open(ctx)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	defer closeDB()
	k, err := kills.Lift(ctx, pos[0], *by)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "lifted %s by %s\n", k.String(), *by)
	return exitOK
}

func runKillList(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard kill list", "[-history] [-json] [-db DSN]", killAbout)
	var kf killFlags
	kf.register(fset)
	history := fset.Bool("history", false, "list every kill switch ever activated, with who lifted it")
	asJSON := fset.Bool("json", false, "print JSON")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if err := noArgs(pos); err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	ctx := context.Background()
	kills, closeDB, err := kf.open(ctx)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	defer closeDB()
	var rows []fleetpg.History
	if *history {
		rows, err = kills.History(ctx, 1000)
	} else {
		var active []tools.Kill
		active, err = kills.List(ctx)
		for _, k := range active {
			rows = append(rows, fleetpg.History{Kill: k})
		}
	}
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return exitIf(enc.Encode(rows), stderr, fset.Name())
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPE\tVALUE\tBY\tAT\tREASON\tLIFTED BY\tLIFTED AT")
	for _, h := range rows {
		lifted := ""
		if !h.LiftedAt.IsZero() {
			lifted = h.LiftedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Scope, h.Value, h.By, h.At.Format(time.RFC3339), h.Reason, h.LiftedBy, lifted)
	}
	tw.Flush()
	return exitOK
}
