package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

const keygenAbout = `Keygen generates a signing key for an identity issuer. The private key is
written as a JWK to -out with mode 0600; the public half is written as a JWK
Set ({"keys":[...]}) to -pub, or to standard output without -pub, for
verifiers to load. Existing files are never overwritten without -force. The
files written and the key id are reported on standard error.`

// Modes of the files keygen writes.
const (
	privateMode fs.FileMode = 0o600
	publicMode  fs.FileMode = 0o644
)

type keygenFlags struct {
	alg, kid, out, pub string
	force              bool
}

func runKeygen(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard keygen", "[-alg EdDSA|ES256] [-kid ID] -out key.jwk [-pub keys.jwks] [-force]", keygenAbout)
	var f keygenFlags
	fset.StringVar(&f.alg, "alg", string(jose.EdDSA), "signature `algorithm`: EdDSA or ES256")
	fset.StringVar(&f.kid, "kid", "", "key `id` (default: the key's RFC 7638 SHA-256 thumbprint)")
	fset.StringVar(&f.out, "out", "", "`file` for the private JWK (required)")
	fset.StringVar(&f.pub, "pub", "", "`file` for the public JWK Set (default: standard output)")
	fset.BoolVar(&f.force, "force", false, "overwrite -out and -pub if they exist")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if err := f.check(fset, pos); err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	if err := f.generate(stdout, stderr); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	return exitOK
}

func (f *keygenFlags) check(fset *flag.FlagSet, pos []string) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	if err := requireFlags(fset, "out"); err != nil {
		return err
	}
	if f.alg != string(jose.EdDSA) && f.alg != string(jose.ES256) {
		return fmt.Errorf("-alg %q: want EdDSA or ES256", f.alg)
	}
	if f.pub != "" && filepath.Clean(f.pub) == filepath.Clean(f.out) {
		return errors.New("-pub and -out name the same file")
	}
	return nil
}

// generate makes the key pair and writes both halves. Nothing is written if
// either file exists (without -force), and the private key is removed again
// if the public set cannot be written, so a retry starts clean.
func (f *keygenFlags) generate(stdout, stderr io.Writer) error {
	priv, pub, kid, err := newKeyPair(jose.SignatureAlgorithm(f.alg), f.kid)
	if err != nil {
		return err
	}
	if !f.force {
		if err := refuseExisting(f.out, f.pub); err != nil {
			return err
		}
	}
	if err := writeNew(f.out, priv, privateMode, f.force); err != nil {
		return err
	}
	if err := f.writePublic(pub, stdout); err != nil {
		os.Remove(f.out)
		return err
	}
	f.report(stderr, kid)
	return nil
}

func (f *keygenFlags) writePublic(pub []byte, stdout io.Writer) error {
	if f.pub == "" {
		_, err := stdout.Write(pub)
		return err
	}
	return writeNew(f.pub, pub, publicMode, f.force)
}

func (f *keygenFlags) report(stderr io.Writer, kid string) {
	fmt.Fprintf(stderr, "wrote private key %s (%s, mode %04o): keep it secret\n", f.out, f.alg, privateMode)
	if f.pub != "" {
		fmt.Fprintf(stderr, "wrote public key set %s\n", f.pub)
	}
	fmt.Fprintf(stderr, "kid: %s\n", kid)
}

// newKeyPair returns a fresh private JWK and a JWK Set holding its public half,
// both as indented JSON. The set is built with identity.NewKeySet, so it is
// exactly what a verifier will accept.
func newKeyPair(alg jose.SignatureAlgorithm, kid string) (priv, pub []byte, id string, err error) {
	key, err := identity.GenerateKey(alg, kid)
	if err != nil {
		return nil, nil, "", err
	}
	set, err := identity.NewKeySet(key.Public())
	if err != nil {
		return nil, nil, "", err
	}
	if priv, err = marshalFile(key); err != nil {
		return nil, nil, "", err
	}
	if pub, err = marshalFile(set); err != nil {
		return nil, nil, "", err
	}
	return priv, pub, key.KeyID, nil
}

// marshalFile encodes v as indented JSON with a final newline.
func marshalFile(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return append(b, '\n'), nil
}

// refuseExisting returns an error naming the first of paths that exists.
func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists (use -force to overwrite)", p)
		}
	}
	return nil
}

// writeNew creates path with mode perm and writes data. It never follows or
// reuses an existing file: with force an existing regular file is removed
// first, so the new file gets perm even if the old one was wider.
func writeNew(path string, data []byte, perm fs.FileMode, force bool) error {
	if force {
		if err := removeRegular(path); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists (use -force to overwrite)", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// removeRegular removes path if it is a regular file or a symbolic link, and
// refuses to touch anything else.
func removeRegular(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s is not a regular file; not overwriting it", path)
	}
	return os.Remove(path)
}
