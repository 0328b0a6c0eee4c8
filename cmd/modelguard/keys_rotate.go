package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

const rotateAbout = `Rotate adds a fresh signing key to a JWK Set file and marks the keys already
in it for removal. The new private key is written to -out (mode 0600); its
public half is appended to -set. Each older key that is not yet marked gets a
"mg_retire_after" member, -grace from now: the time after which no token it
signed can still be valid, so verifiers can drop it. Keys whose mark has
passed are removed from the set. Verifiers ignore the member (RFC 7517 §4).

Publish the new set, then switch the issuer to the new key: verifiers with a
remote key set fetch it on first sight of its kid. Run rotate again later to
remove the retired keys. The set is rewritten in place, atomically; it must
pass the same checks as any key set before and after.`

// retireMember is the JWK member that marks a key for removal.
const retireMember = "mg_retire_after"

type rotateFlags struct {
	set, out, alg, kid, now string
	grace                   time.Duration
	force                   bool
}

func runKeysRotate(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard keys rotate", "-set keys.jwks -out new.jwk [-alg EdDSA|ES256] [-kid ID] [-grace 24h]", rotateAbout)
	var f rotateFlags
	f.register(fset)
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	now, err := f.check(fset, pos)
	if err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	if err := f.rotate(now, stderr); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	return exitOK
}

func (f *rotateFlags) register(fset *flag.FlagSet) {
	fset.StringVar(&f.set, "set", "", "JWK Set `file` to rotate (required)")
	fset.StringVar(&f.out, "out", "", "`file` for the new private JWK (required)")
	fset.StringVar(&f.alg, "alg", string(jose.EdDSA), "signature `algorithm` of the new key: EdDSA or ES256")
	fset.StringVar(&f.kid, "kid", "", "key `id` of the new key (default: its RFC 7638 thumbprint)")
	fset.DurationVar(&f.grace, "grace", 24*time.Hour, "how long the old keys stay published (at least the longest token `lifetime`)")
	fset.StringVar(&f.now, "now", "", "the current RFC 3339 `time` (default: now), for scripted rotations")
	fset.BoolVar(&f.force, "force", false, "overwrite -out if it exists")
}

func (f *rotateFlags) check(fset *flag.FlagSet, pos []string) (time.Time, error) {
	if err := noArgs(pos); err != nil {
		return time.Time{}, err
	}
	if err := requireFlags(fset, "set", "out"); err != nil {
		return time.Time{}, err
	}
	switch {
	case f.alg != string(jose.EdDSA) && f.alg != string(jose.ES256):
		return time.Time{}, fmt.Errorf("-alg %q: want EdDSA or ES256", f.alg)
	case f.grace <= 0:
		return time.Time{}, fmt.Errorf("-grace %s: must be positive", f.grace)
	case filepath.Clean(f.set) == filepath.Clean(f.out):
		return time.Time{}, errors.New("-set and -out name the same file")
	case f.now == "":
		return time.Now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, f.now)
	if err != nil {
		return time.Time{}, fmt.Errorf("-now %q: want an RFC 3339 time", f.now)
	}
	return t.UTC(), nil
}

// rotate reads the set, retires and removes keys, adds the new one and
// writes both files. The private key is written first and removed again if
// the set cannot be written.
func (f *rotateFlags) rotate(now time.Time, stderr io.Writer) error {
	doc, err := readSet(f.set)
	if err != nil {
		return err
	}
	kept, report := retire(doc, now, now.Add(f.grace))
	key, err := identity.GenerateKey(jose.SignatureAlgorithm(f.alg), f.kid)
	if err != nil {
		return err
	}
	pub, err := json.Marshal(key.Public())
	if err != nil {
		return err
	}
	out, err := encodeSet(append(kept, pub))
	if err != nil {
		return fmt.Errorf("-set %s: the rotated set would be refused: %w", f.set, err)
	}
	priv, err := marshalFile(key)
	if err != nil {
		return err
	}
	if err := writeNew(f.out, priv, privateMode, f.force); err != nil {
		return err
	}
	if err := replaceFile(f.set, out, publicMode); err != nil {
		os.Remove(f.out)
		return err
	}
	fmt.Fprint(stderr, report)
	fmt.Fprintf(stderr, "added kid %s (%s); private key in %s\n", key.KeyID, f.alg, f.out)
	return nil
}
