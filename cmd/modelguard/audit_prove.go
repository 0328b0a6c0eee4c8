package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
)

const auditProveAbout = `Prove prints, as JSON, a proof that anyone holding the log's verifier key
can check with 'audit verify -proof FILE -key PUB', without the log.

With -seq N it proves that record N is in the tree of the log's latest
checkpoint: the proof holds the record, its audit path and the signed
checkpoint.

With -consistency it proves that the log at checkpoint NEW extends the log at
checkpoint OLD (both files holding signed checkpoints of LOG; NEW defaults to
the log's latest): no record of OLD was changed, removed or reordered since.`

func runAuditProve(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard audit prove", "LOG -seq N | LOG -consistency OLD [NEW]", auditProveAbout)
	seq := fset.String("seq", "", "prove record `N` (its sequence number)")
	consistency := fset.Bool("consistency", false, "prove that checkpoint NEW extends checkpoint OLD")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if (*seq == "") == !*consistency {
		return usageError(fset, stderr, "give either -seq or -consistency")
	}
	if len(pos) < 1 {
		return usageError(fset, stderr, "no LOG given")
	}
	l, err := audit.OpenLog(pos[0])
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	var proof any
	if *consistency {
		if len(pos) < 2 || len(pos) > 3 {
			return usageError(fset, stderr, "-consistency takes LOG OLD [NEW]")
		}
		proof, err = proveConsistency(l, pos[1:])
	} else {
		if len(pos) != 1 {
			return usageError(fset, stderr, "-seq takes one LOG")
		}
		n, perr := strconv.ParseUint(*seq, 10, 64)
		if perr != nil || n == 0 {
			return usageError(fset, stderr, "-seq %q: want a sequence number from 1", *seq)
		}
		proof, err = l.Prove(n)
	}
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	b, _ := json.MarshalIndent(proof, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	return exitOK
}

func proveConsistency(l *audit.Log, files []string) (*audit.ConsistencyProof, error) {
	older, err := os.ReadFile(files[0])
	if err != nil {
		return nil, err
	}
	var newer []byte
	if len(files) == 2 {
		newer, err = os.ReadFile(files[1])
	} else {
		newer, err = l.Checkpoint()
	}
	if err != nil {
		return nil, err
	}
	return l.ProveConsistency(older, newer)
}

const auditKeygenAbout = `Keygen generates an Ed25519 key pair for signing an audit log's checkpoints.
NAME is the log's origin: it names the log in every checkpoint. The private
key goes to PREFIX.key (mode 0600) and the verifier key to PREFIX.pub; the
application loads the first with note.NewSigner and sets it as the log's
Signer, and investigators pass the second to 'audit verify -key'. Existing
files are refused unless -force is given.`

func runAuditKeygen(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard audit keygen", "-name NAME [-out PREFIX] [-force]", auditKeygenAbout)
	name := fset.String("name", "", "the log's origin, such as `example.com/support-bot/audit`")
	out := fset.String("out", "audit-checkpoint", "write PREFIX.key and PREFIX.pub (`PREFIX`)")
	force := fset.Bool("force", false, "overwrite existing files")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if err := errors.Join(noArgs(pos), requireFlags(fset, "name")); err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, *name)
	if err != nil {
		return usageError(fset, stderr, "-name: %v", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	for _, f := range []struct {
		path, data string
		perm       os.FileMode
	}{{*out + ".key", skey, 0o600}, {*out + ".pub", vkey, 0o644}} {
		if err := writeKeyFile(f.path, f.data, flags, f.perm); err != nil {
			return fail(stderr, fset.Name(), err)
		}
	}
	fmt.Fprintf(stderr, "wrote %s.key (private) and %s.pub (verifier key %s)\n", *out, *out, vkey)
	return exitOK
}

func writeKeyFile(path, data string, flags int, perm os.FileMode) error {
	f, err := os.OpenFile(path, flags, perm)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data + "\n")
	return errors.Join(err, f.Close())
}
