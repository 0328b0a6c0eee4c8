package audit_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

// tamperCase damages a signed 10-record log; Verify must report want at index.
type tamperCase struct {
	name   string
	damage func(t *testing.T, path string, trusted []byte) []byte // returns the trusted checkpoint to use
	want   error
	index  uint64
}

var tamperCases = []tamperCase{
	{"modified", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		ls[4] = strings.Replace(ls[4], `"decision":"allow"`, `"decision":"deny"`, 1)
		writeLines(t, path, ls)
		return cp
	}, audit.ErrModified, 5},
	{"modified, hashes file removed", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		ls[4] = strings.Replace(ls[4], `"decision":"allow"`, `"decision":"deny"`, 1)
		writeLines(t, path, ls)
		os.Remove(path + ".hashes")
		os.Remove(path + ".checkpoint")
		return cp
	}, audit.ErrFork, 0},
	{"deleted", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		writeLines(t, path, append(ls[:4:4], ls[5:]...))
		return cp
	}, audit.ErrMissing, 5},
	{"deleted run", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		writeLines(t, path, append(ls[:2:2], ls[6:]...))
		return cp
	}, audit.ErrMissing, 3},
	{"inserted", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		forged := strings.Replace(ls[2], `"decision":"allow"`, `"decision":"deny"`, 1)
		writeLines(t, path, append(ls[:6:6], append([]string{forged}, ls[6:]...)...))
		return cp
	}, audit.ErrInserted, 7},
	{"inserted ahead", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		forged := strings.Replace(ls[8], `"decision":"allow"`, `"decision":"deny"`, 1)
		writeLines(t, path, append(ls[:3:3], append([]string{forged}, ls[3:]...)...))
		return cp
	}, audit.ErrInserted, 4},
	{"duplicated", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		writeLines(t, path, append(ls[:6:6], append([]string{ls[5]}, ls[6:]...)...))
		return cp
	}, audit.ErrDuplicate, 7},
	{"reordered", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		ls[3], ls[4] = ls[4], ls[3]
		writeLines(t, path, ls)
		return cp
	}, audit.ErrReordered, 4},
	{"truncated", func(t *testing.T, path string, cp []byte) []byte {
		writeLines(t, path, lines(t, path)[:7])
		os.Remove(path + ".checkpoint")
		return cp
	}, audit.ErrTruncated, 8},
	{"truncated to nothing", func(t *testing.T, path string, cp []byte) []byte {
		os.WriteFile(path, nil, 0o600)
		os.Remove(path + ".checkpoint")
		return cp
	}, audit.ErrTruncated, 1},
	{"forked", func(t *testing.T, path string, cp []byte) []byte {
		for _, ext := range []string{"", ".hashes", ".checkpoint"} {
			os.Remove(path + ext)
		}
		writeLog(t, path, 9, audit.FileOptions{})
		writeLog(t, path, 1, audit.FileOptions{}) // ten records, other content
		os.Remove(path + ".checkpoint")           // the forger cannot sign one
		return cp
	}, audit.ErrFork, 0},
	{"bad trusted checkpoint signature", func(t *testing.T, path string, cp []byte) []byte {
		i := bytes.LastIndexByte(cp, ' ')
		bad := bytes.Clone(cp)
		bad[i+20] = map[bool]byte{true: 'B', false: 'A'}[bad[i+20] == 'A'] // in the signature proper
		return bad
	}, audit.ErrBadSignature, 0},
	{"trusted checkpoint by another key", func(t *testing.T, path string, cp []byte) []byte {
		other, _ := keys(t, "example.com/tamper")
		c, _ := audit.UnsafeParseSignedCheckpoint(cp)
		forged, _ := audit.SignCheckpoint(c, other)
		return forged
	}, audit.ErrBadSignature, 0},
	{"log's own checkpoint rewritten", func(t *testing.T, path string, cp []byte) []byte {
		b, _ := os.ReadFile(path + ".checkpoint")
		os.WriteFile(path+".checkpoint", bytes.Replace(b, []byte("\n10\n"), []byte("\n9\n"), 1), 0o600)
		return nil
	}, audit.ErrBadSignature, 0},
	{"not JSON", func(t *testing.T, path string, cp []byte) []byte {
		ls := lines(t, path)
		ls[2] = `{"seq":3,` + "\x00"
		writeLines(t, path, ls)
		return cp
	}, audit.ErrCorrupt, 3},
	{"hashes file damaged", func(t *testing.T, path string, cp []byte) []byte {
		b, _ := os.ReadFile(path + ".hashes")
		b[32*5+5] ^= 1 // the first interior hash stored for record 4
		os.WriteFile(path+".hashes", b, 0o600)
		return cp
	}, audit.ErrCorrupt, 4},
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t, "example.com/tamper")
	for _, tt := range tamperCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := logPath(t)
			writeLog(t, path, 10, audit.FileOptions{Signer: signer})
			trusted, _ := os.ReadFile(path + ".checkpoint")
			verify(t, path, audit.VerifyOptions{Keys: vs, Checkpoint: trusted})
			cp := tt.damage(t, path, trusted)
			l, err := audit.OpenLog(path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := l.Verify(audit.VerifyOptions{Keys: vs, Checkpoint: cp})
			var ve *audit.VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, tt.want) || ve.Index != tt.index {
				t.Fatalf("Verify = %+v, %v; want %v at record %d", res, err, tt.want, tt.index)
			}
			if ve.Index > 0 && ve.Segment == "" && tt.want != audit.ErrTruncated {
				t.Errorf("error does not locate the record: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestVerifyNeedsKeyForTrustedCheckpoint(t *testing.T) {
	t.Parallel()
	path := logPath(t)
	writeLog(t, path, 2, audit.FileOptions{})
	l, _ := audit.OpenLog(path)
	cp, _ := l.Checkpoint()
	if _, err := l.Verify(audit.VerifyOptions{Checkpoint: cp}); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("Verify = %v", err)
	}
}
