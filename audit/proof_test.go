package audit_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

func TestProofs(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t, "example.com/proofs")
	path := logPath(t)
	writeLog(t, path, 13, audit.FileOptions{Signer: signer})
	l, _ := audit.OpenLog(path)
	older, _ := l.Checkpoint()
	writeLog(t, path, 20, audit.FileOptions{Signer: signer})
	newer, _ := l.Checkpoint()

	for _, seq := range []uint64{1, 7, 13, 33} {
		p, err := l.Prove(seq)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p)
		parsed, err := audit.ParseProof(b)
		if err != nil {
			t.Fatal(err)
		}
		cp, e, err := parsed.(*audit.InclusionProof).Verify(vs)
		if err != nil || cp.Size != 33 || e.Seq != seq {
			t.Fatalf("seq %d: %+v, %v", seq, e, err)
		}
	}
	if _, err := l.Prove(34); err == nil {
		t.Fatal("proof of a record past the checkpoint")
	}

	cons, err := l.ProveConsistency(older, newer)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cons)
	parsed, err := audit.ParseProof(b)
	if err != nil {
		t.Fatal(err)
	}
	o, n, err := parsed.(*audit.ConsistencyProof).Verify(vs)
	if err != nil || o.Size != 13 || n.Size != 33 {
		t.Fatalf("consistency: %+v %+v %v", o, n, err)
	}
	// A checkpoint of another log is refused by the prover.
	other := logPath(t) + ".other"
	writeLog(t, other, 20, audit.FileOptions{Signer: signer})
	foreign, _ := os.ReadFile(other + ".checkpoint")
	if _, err := l.ProveConsistency(older, foreign); !errors.Is(err, audit.ErrFork) {
		t.Fatalf("proof against a foreign checkpoint: %v", err)
	}
}

func TestProofTampering(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t, "example.com/proofs")
	_, otherKeys := keys(t, "example.com/proofs")
	path := logPath(t)
	writeLog(t, path, 9, audit.FileOptions{Signer: signer})
	l, _ := audit.OpenLog(path)
	older, _ := l.Checkpoint()
	writeLog(t, path, 4, audit.FileOptions{Signer: signer})
	newer, _ := l.Checkpoint()
	inc, _ := l.Prove(5)
	cons, _ := l.ProveConsistency(older, newer)
	tests := []struct {
		name  string
		check func() error
		want  error
	}{
		{"record changed", func() error {
			p := *inc
			p.Record = strings.Replace(inc.Record, "allow", "alloW", 1)
			_, _, err := p.Verify(vs)
			return err
		}, audit.ErrBadProof},
		{"other seq", func() error { p := *inc; p.Seq = 6; _, _, err := p.Verify(vs); return err }, audit.ErrBadProof},
		{"hash changed", func() error {
			p := *inc
			p.Proof = append(p.Proof[:0:0], inc.Proof...)
			p.Proof[0][0] ^= 1
			_, _, err := p.Verify(vs)
			return err
		}, audit.ErrBadProof},
		{"unknown key", func() error { _, _, err := inc.Verify(otherKeys); return err }, audit.ErrBadSignature},
		{"consistency swapped", func() error {
			p := audit.ConsistencyProof{Old: cons.New, New: cons.Old, Proof: cons.Proof}
			_, _, err := p.Verify(vs)
			return err
		}, audit.ErrBadProof},
		{"consistency short", func() error {
			p := audit.ConsistencyProof{Old: cons.Old, New: cons.New, Proof: cons.Proof[1:]}
			_, _, err := p.Verify(vs)
			return err
		}, audit.ErrBadProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.check(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
