package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/bundle"
)

const bundleAbout = `Bundle packs policy files and a manifest (version, time, each file's name,
size and SHA-256) into one signed file that fleet instances fetch and verify
(package policy/bundle). build writes an unsigned bundle, refusing files that
do not load as one policy set; sign adds an Ed25519 signature in the signed-note
format of audit checkpoints (a key from 'modelguard audit keygen'); verify
checks the signatures against the given verifier keys, the files against the
manifest, and the policy, and prints the bundle's version and files.`

func bundleCommands() []command {
	return []command{
		{name: "build", summary: "pack policy files into an unsigned bundle", run: runBundleBuild},
		{name: "sign", summary: "sign a bundle's manifest", run: runBundleSign},
		{name: "verify", summary: "verify a bundle's signatures, files and policy", run: runBundleVerify},
	}
}

// bundleName is the name a file gets in a bundle: its path as given when that
// is clean and relative, else its base name.
func bundleName(p string) string {
	s := filepath.ToSlash(filepath.Clean(p))
	if filepath.IsAbs(p) || strings.HasPrefix(s, "../") {
		return filepath.Base(p)
	}
	return s
}

func runBundleBuild(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy bundle build", "-version N -o BUNDLE FILE...", bundleAbout)
	version := fset.Uint64("version", 0, "bundle `version`: must grow with every bundle a fleet gets")
	out := fset.String("o", "", "write the bundle to `file`")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(files) == 0 || *version == 0 || *out == "" {
		return usageError(fset, stderr, "need -version (≥ 1), -o and at least one policy file")
	}
	var bf []bundle.File
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fail(stderr, fset.Name(), err)
		}
		bf = append(bf, bundle.File{Name: bundleName(f), Data: data})
	}
	b, err := bundle.Build(*version, time.Now(), bf)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if _, err := b.Policy(policy.Options{}); err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	data, err := b.Marshal()
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "wrote %s: version %d, %d %s (unsigned)\n", *out, *version, len(bf), plural(len(bf), "file"))
	return exitOK
}

func runBundleSign(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy bundle sign", "-key PRIVATE.key [-o OUT] BUNDLE", bundleAbout)
	keyPath := fset.String("key", "", "the signer's private note key `file` (from 'audit keygen')")
	out := fset.String("o", "", "write the signed bundle to `file` (default: in place)")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || *keyPath == "" {
		return usageError(fset, stderr, "need -key and one bundle file")
	}
	skey, err := os.ReadFile(*keyPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return fail(stderr, fset.Name(), fmt.Errorf("-key %s: not a private note key: %w", *keyPath, err))
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	b, err := bundle.Parse(data)
	if err == nil {
		err = b.Sign(signer)
	}
	if err == nil {
		data, err = b.Marshal()
	}
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	dst := *out
	if dst == "" {
		dst = pos[0]
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "signed %s as %s: version %d\n", dst, signer.Name(), b.Manifest.Version)
	return exitOK
}

func runBundleVerify(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy bundle verify", "-key PUB... BUNDLE", bundleAbout)
	var keys listFlag
	fset.Var(&keys, "key", "a verifier `key` or file (repeatable)")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 || len(keys) == 0 {
		return usageError(fset, stderr, "need at least one -key and one bundle file")
	}
	known, err := loadKeys(keys)
	if err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	b, err := bundle.Open(data, known)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	set, err := b.Policy(policy.Options{})
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	fmt.Fprintf(stdout, "ok: %s, created %s, signed by %s, %d %s\n", set.Version(),
		b.Manifest.Created.Format(time.RFC3339), strings.Join(b.Signers(), ", "), len(set.Rules()), plural(len(set.Rules()), "rule"))
	for _, e := range b.Manifest.Files {
		fmt.Fprintf(stdout, "  %s  %d bytes  sha256:%x\n", e.Name, e.Size, e.SHA256)
	}
	return exitOK
}
