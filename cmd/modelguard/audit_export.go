package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/audit/ocsf"
)

const auditExportAbout = `Export writes the audit log LOG (with its rotated segments), in order, in
another format, one JSON object a line, to stdout or -o.

-format ocsf: OCSF 1.8.0 API Activity events (class_uid 6003) with the
ai_operation and security_control profiles; each carries the SHA-256 of its
record as raw_data_hash and, under unmapped.modelguard.merkle, its Merkle leaf
and the log's checkpoint. With -key the checkpoint's signature is checked
first (and the export fails if it does not verify); without, it is marked
signature_verified false.`

func runAuditExport(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard audit export", "-format ocsf [-key PUB]... [-o FILE] LOG", auditExportAbout)
	format := fset.String("format", "", "output `format`: ocsf")
	var keyArgs listFlag
	fset.Var(&keyArgs, "key", "checkpoint verifier `key` or key file (repeatable)")
	outPath := fset.String("o", "", "write to `file` instead of stdout")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *format != "ocsf" {
		return usageError(fset, stderr, "-format must be ocsf")
	}
	if len(pos) != 1 {
		return usageError(fset, stderr, "want exactly one LOG")
	}
	keys, err := loadKeys(keyArgs)
	if err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	log, err := audit.OpenLog(pos[0])
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	var opts ocsf.Options
	if opts.Checkpoint, opts.Verified, err = exportCheckpoint(log, keys); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	w := stdout
	if *outPath != "" {
		f, err := os.Create(*outPath)
		if err != nil {
			return fail(stderr, fset.Name(), err)
		}
		defer f.Close()
		w = f
	}
	n, err := ocsf.Export(w, log, opts)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stderr, "%d %s exported\n", n, plural(n, "event"))
	return exitOK
}

// exportCheckpoint reads the log's checkpoint: verified with keys when given,
// else parsed unverified. A log without one exports without it.
func exportCheckpoint(log *audit.Log, keys note.Verifiers) (*audit.Checkpoint, bool, error) {
	msg, err := log.Checkpoint()
	if errors.Is(err, os.ErrNotExist) {
		if keys != nil {
			return nil, false, fmt.Errorf("-key given but the log has no checkpoint")
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if keys != nil {
		cp, err := audit.OpenCheckpoint(msg, keys)
		if err != nil {
			return nil, false, err
		}
		return &cp, true, nil
	}
	cp, err := audit.UnsafeParseSignedCheckpoint(msg)
	if err != nil {
		if cp, err = audit.ParseCheckpoint(msg); err != nil {
			return nil, false, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return &cp, false, nil
}
