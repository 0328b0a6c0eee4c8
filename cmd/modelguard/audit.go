package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
)

// auditCommands are the subcommands of "modelguard audit".
func auditCommands() []command {
	return []command{
		{name: "verify", summary: "re-derive a log's Merkle tree and check it, or check a proof", run: runAuditVerify},
		{name: "prove", summary: "prove a record is in a log, or that a log extends a checkpoint", run: runAuditProve},
		{name: "query", summary: "print a timeline of the events that match filters", run: runAuditQuery},
		{name: "export", summary: "write a log in another format (OCSF API Activity)", run: runAuditExport},
		{name: "keygen", summary: "generate an Ed25519 key pair for signing checkpoints", run: runAuditKeygen},
	}
}

const auditVerifyAbout = `Verify re-derives the Merkle tree of the log whose active file is LOG (with
its rotated segments) and checks the sequence of records, their syntax, the
hashes file beside the log and the log's latest checkpoint. It reports a
modified, deleted, inserted, duplicated or reordered record, a log shorter
than the trusted -checkpoint, a log whose root differs from a checkpoint of
the same size (a fork), and a checkpoint whose signature -key rejects, naming
the first bad record, and exits 1.

With -proof instead of LOG, it checks a proof printed by 'audit prove' with
nothing but -key, and prints the record or the checkpoints it proves.

-key is a note verifier key, name+hash+base64 as 'audit keygen' writes it, or
a file holding one; it may be repeated.`

func runAuditVerify(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard audit verify", "[-key PUB]... [-checkpoint FILE] LOG | -proof FILE -key PUB", auditVerifyAbout)
	var keyArgs listFlag
	fset.Var(&keyArgs, "key", "checkpoint verifier `key` or key file (repeatable)")
	cpFile := fset.String("checkpoint", "", "a trusted signed checkpoint `file` the log must extend")
	noCheckpoint := fset.Bool("allow-no-checkpoint", false, "with -key, warn instead of failing when the log has no checkpoint to check")
	proofFile := fset.String("proof", "", "check the proof in `file` instead of a log")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	keys, err := loadKeys(keyArgs)
	if err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	if *proofFile != "" {
		if len(pos) > 0 || keys == nil {
			return usageError(fset, stderr, "-proof takes -key and no LOG")
		}
		return verifyProof(fset.Name(), *proofFile, keys, stdout, stderr)
	}
	if len(pos) != 1 {
		return usageError(fset, stderr, "want exactly one LOG")
	}
	opts := audit.VerifyOptions{Keys: keys}
	if *cpFile != "" {
		if keys == nil {
			return usageError(fset, stderr, "-checkpoint needs -key")
		}
		if opts.Checkpoint, err = os.ReadFile(*cpFile); err != nil {
			return fail(stderr, fset.Name(), err)
		}
	}
	return verifyLog(fset.Name(), pos[0], opts, *noCheckpoint, stdout, stderr)
}

func verifyLog(name, path string, opts audit.VerifyOptions, allowNoCheckpoint bool, stdout, stderr io.Writer) int {
	l, err := audit.OpenLog(path)
	if err != nil {
		return fail(stderr, name, err)
	}
	res, err := l.Verify(opts)
	if err != nil {
		return fail(stderr, name, fmt.Errorf("%s: %w", path, err))
	}
	fmt.Fprintf(stdout, "ok: %d records in %d %s, root %v\n", res.Records, len(l.Segments()),
		plural(len(l.Segments()), "file"), res.Root)
	if res.Latest != nil {
		how := "signature not checked (no -key)"
		if res.LatestSigned {
			how = "signed by " + res.Latest.Origin
		}
		fmt.Fprintf(stdout, "latest checkpoint: %d records, %s\n", res.Latest.Size, how)
	}
	if res.Trusted != nil {
		fmt.Fprintf(stdout, "extends trusted checkpoint: %d records of %s\n", res.Trusted.Size, res.Trusted.Origin)
	}
	switch {
	case res.Latest == nil && opts.Keys != nil && !allowNoCheckpoint:
		fmt.Fprintf(stderr, "%s: %s: no checkpoint, so -key checked nothing: the log was never closed or checkpointed,"+
			" or its checkpoint file is missing (-allow-no-checkpoint to accept)\n", name, path)
		return exitFail
	case res.Latest == nil:
		fmt.Fprintf(stderr, "warning: %s has no checkpoint: nothing signed covers its records"+
			" (a log never closed or checkpointed, or its checkpoint file is missing)\n", path)
	case uint64(res.Latest.Size) < res.Records:
		fmt.Fprintf(stderr, "warning: the last %d records come after the latest checkpoint: no signature covers them yet\n",
			res.Records-uint64(res.Latest.Size))
	}
	if res.Torn != nil {
		fmt.Fprintf(stderr, "warning: %s ends with a torn record at offset %d (%d bytes), left by a crash;"+
			" opening the log cuts it and records that it did\n", res.Torn.Segment, res.Torn.Offset, res.Torn.Length)
	}
	return exitOK
}

func verifyProof(name, file string, keys note.Verifiers, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return fail(stderr, name, err)
	}
	p, err := audit.ParseProof(b)
	if err != nil {
		return fail(stderr, name, err)
	}
	switch p := p.(type) {
	case *audit.InclusionProof:
		cp, e, err := p.Verify(keys)
		if err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "ok: record %d is in the log %s of %d records\n%s\n", e.Seq, cp.Origin, cp.Size, p.Record)
	case *audit.ConsistencyProof:
		o, n, err := p.Verify(keys)
		if err != nil {
			return fail(stderr, name, err)
		}
		fmt.Fprintf(stdout, "ok: the log %s at %d records extends itself at %d records\n", n.Origin, n.Size, o.Size)
	}
	return exitOK
}

// loadKeys reads note verifier keys, given inline or as files. It returns nil
// for none.
func loadKeys(args []string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, a := range args {
		key := a
		if !strings.Contains(a, "+") || fileExists(a) {
			b, err := os.ReadFile(a)
			if err != nil {
				return nil, fmt.Errorf("-key %s: %w", a, err)
			}
			key = strings.TrimSpace(string(b))
		}
		v, err := note.NewVerifier(key)
		if err != nil {
			return nil, fmt.Errorf("-key %s: not a verifier key (name+hash+base64): %w", a, err)
		}
		vs = append(vs, v)
	}
	if vs == nil {
		return nil, nil
	}
	return note.VerifierList(vs...), nil
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
