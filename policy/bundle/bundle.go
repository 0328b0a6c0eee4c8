package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/internal/signednote"

	"github.com/modelguard/modelguard/policy"
)

// Errors a bundle is refused with. Every refusal wraps one of them.
var (
	// ErrMalformed: the bundle is not a well-formed bundle (bad JSON, bad
	// manifest, a file whose digest or size does not match, a missing or
	// extra file, too large).
	ErrMalformed = errors.New("bundle: malformed")
	// ErrBadSignature: no configured key signed the manifest, or a configured
	// key's signature does not verify.
	ErrBadSignature = errors.New("bundle: bad signature")
	// ErrNotNewer: the bundle's version is not greater than the running one.
	ErrNotNewer = errors.New("bundle: not newer than the running bundle")
	// ErrPolicy: the bundle's files do not load as a policy set.
	ErrPolicy = errors.New("bundle: policy does not load")
)

// Limits of a bundle. A bundle larger than MaxBytes is refused before it is
// parsed.
const (
	MaxBytes = 4 << 20
	MaxFiles = 256
)

const header = "modelguard policy bundle v1"

// File is one policy file of a bundle.
type File struct {
	Name string `json:"name"` // clean relative path ending in .yaml or .yml
	Data []byte `json:"data"`
}

// Manifest is what a bundle's signature covers: its version, when it was
// built, and the name, size and SHA-256 of every file, in load order.
type Manifest struct {
	Version uint64
	Created time.Time
	Files   []Entry
}

// Entry is one file in a [Manifest].
type Entry struct {
	Name   string
	Size   int
	SHA256 [32]byte
}

// Bundle is a set of policy files with a signed manifest. The wire form
// (see [Bundle.Marshal]) is JSON: {"manifest": signed note, "files": [...]}.
// The manifest is a signed note (golang.org/x/mod/sumdb/note, the format of the
// audit log's checkpoints) whose text is:
//
//	modelguard policy bundle v1
//	version 7
//	created 2026-12-02T11:00:00Z
//	file base.yaml 1234 <sha256 hex>
//	file payments.yaml 456 <sha256 hex>
type Bundle struct {
	Manifest Manifest
	Files    []File
	note     []byte // the manifest note, signed or not
}

// Build makes an unsigned bundle of files, loaded in the order given.
func Build(version uint64, created time.Time, files []File) (*Bundle, error) {
	if version == 0 {
		return nil, fmt.Errorf("%w: version must be at least 1", ErrMalformed)
	}
	if created.IsZero() {
		return nil, fmt.Errorf("%w: no creation time", ErrMalformed)
	}
	m := Manifest{Version: version, Created: created.UTC().Truncate(time.Second)}
	for _, f := range files {
		m.Files = append(m.Files, Entry{Name: f.Name, Size: len(f.Data), SHA256: sha256.Sum256(f.Data)})
	}
	text := m.text()
	if _, err := parseManifest(text); err != nil {
		return nil, err
	}
	b := &Bundle{Manifest: m, Files: cloneFiles(files), note: []byte(text)}
	return b, nil
}

func cloneFiles(fs []File) []File {
	out := make([]File, len(fs))
	for i, f := range fs {
		out[i] = File{Name: f.Name, Data: bytes.Clone(f.Data)}
	}
	return out
}

func (m Manifest) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nversion %d\ncreated %s\n", header, m.Version, m.Created.UTC().Format(time.RFC3339))
	for _, e := range m.Files {
		fmt.Fprintf(&b, "file %s %d %s\n", e.Name, e.Size, hex.EncodeToString(e.SHA256[:]))
	}
	return b.String()
}

// checkName accepts clean relative slash paths of printable characters, with
// no spaces, ending in .yaml or .yml.
func checkName(name string) error {
	switch {
	case name == "" || len(name) > 255 || !utf8.ValidString(name):
		return fmt.Errorf("%w: bad file name %q", ErrMalformed, name)
	case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }):
		return fmt.Errorf("%w: file name %q has spaces or control characters", ErrMalformed, name)
	case path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("%w: file name %q is not a clean relative path", ErrMalformed, name)
	case !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml"):
		return fmt.Errorf("%w: file name %q does not end in .yaml or .yml", ErrMalformed, name)
	}
	return nil
}

// parseManifest parses a manifest text, strictly: it must be exactly what
// Manifest.text would write for it.
func parseManifest(text string) (Manifest, error) {
	bad := func(format string, args ...any) (Manifest, error) {
		return Manifest{}, fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if !strings.HasSuffix(text, "\n") {
		return bad("does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != header {
		return bad("want %q, version and created lines", header)
	}
	var m Manifest
	v, ok := strings.CutPrefix(lines[1], "version ")
	n, err := strconv.ParseUint(v, 10, 64)
	if !ok || err != nil || n == 0 || strconv.FormatUint(n, 10) != v {
		return bad("bad version line %q", lines[1])
	}
	m.Version = n
	c, ok := strings.CutPrefix(lines[2], "created ")
	t, err := time.Parse(time.RFC3339, c)
	if !ok || err != nil || t.UTC().Format(time.RFC3339) != c {
		return bad("bad created line %q", lines[2])
	}
	m.Created = t.UTC()
	if len(lines)-3 > MaxFiles {
		return bad("more than %d files", MaxFiles)
	}
	if len(lines) == 3 {
		return bad("no files")
	}
	seen := map[string]bool{}
	for _, l := range lines[3:] {
		f := strings.Split(l, " ")
		if len(f) != 4 || f[0] != "file" {
			return bad("bad file line %q", l)
		}
		if err := checkName(f[1]); err != nil {
			return Manifest{}, err
		}
		if seen[f[1]] {
			return bad("file %q listed twice", f[1])
		}
		seen[f[1]] = true
		size, err := strconv.Atoi(f[2])
		if err != nil || size < 0 || size > MaxBytes || strconv.Itoa(size) != f[2] {
			return bad("bad size in %q", l)
		}
		var e Entry
		if h, err := hex.DecodeString(f[3]); err != nil || len(h) != 32 || hex.EncodeToString(h) != f[3] {
			return bad("bad digest in %q", l)
		} else {
			copy(e.SHA256[:], h)
		}
		e.Name, e.Size = f[1], size
		m.Files = append(m.Files, e)
	}
	return m, nil
}

// Sign adds signatures by signers to the bundle's manifest, keeping those it
// already has.
func (b *Bundle) Sign(signers ...note.Signer) error {
	if b == nil || len(b.note) == 0 || len(signers) == 0 {
		return errors.New("bundle: Sign needs a bundle and at least one signer")
	}
	n := &note.Note{Text: b.Manifest.text()}
	if bytes.Contains(b.note, []byte("\n\n")) { // signed already: keep its signatures
		_, err := note.Open(b.note, note.VerifierList())
		var un *note.UnverifiedNoteError
		if !errors.As(err, &un) {
			return fmt.Errorf("%w: existing signatures: %v", ErrMalformed, err)
		}
		n.Sigs = un.Note.UnverifiedSigs
	}
	msg, err := note.Sign(n, signers...)
	if err != nil {
		return fmt.Errorf("bundle: sign: %w", err)
	}
	b.note = msg
	return nil
}

// Signed reports whether the manifest carries any signature.
func (b *Bundle) Signed() bool { return b != nil && bytes.Contains(b.note, []byte("\n\n")) }

type wire struct {
	Manifest string `json:"manifest"`
	Files    []File `json:"files"`
}

// Marshal returns the bundle's wire form.
func (b *Bundle) Marshal() ([]byte, error) {
	if b == nil || len(b.note) == 0 {
		return nil, errors.New("bundle: Marshal of an empty bundle")
	}
	return json.MarshalIndent(wire{Manifest: string(b.note), Files: b.Files}, "", "  ")
}

// Parse reads a bundle's wire form and checks that its files are exactly those
// its manifest lists, with their sizes and digests, but checks no signature:
// use it to sign or inspect, and [Open] to trust.
func Parse(data []byte) (*Bundle, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the %d byte limit", ErrMalformed, len(data), MaxBytes)
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the bundle", ErrMalformed)
	}
	text := w.Manifest
	if i := strings.Index(text, "\n\n"); i >= 0 {
		text = text[:i+1]
	}
	m, err := parseManifest(text)
	if err != nil {
		return nil, err
	}
	if len(w.Files) != len(m.Files) {
		return nil, fmt.Errorf("%w: %d files, the manifest lists %d", ErrMalformed, len(w.Files), len(m.Files))
	}
	for i, e := range m.Files {
		f := w.Files[i]
		if f.Name != e.Name || len(f.Data) != e.Size || sha256.Sum256(f.Data) != e.SHA256 {
			return nil, fmt.Errorf("%w: file %d (%q) does not match the manifest's %q", ErrMalformed, i, f.Name, e.Name)
		}
	}
	return &Bundle{Manifest: m, Files: w.Files, note: []byte(w.Manifest)}, nil
}

// Open parses data (see [Parse]) and verifies its manifest: at least one of
// the known keys must have signed it, and no known key's signature may be bad.
func Open(data []byte, known note.Verifiers) (*Bundle, error) {
	if known == nil {
		return nil, fmt.Errorf("%w: no keys configured", ErrBadSignature)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if !b.Signed() {
		return nil, fmt.Errorf("%w: the manifest is not signed", ErrBadSignature)
	}
	n, err := signednote.Open(b.note, known)
	if err != nil {
		var un *note.UnverifiedNoteError
		var inv *note.InvalidSignatureError
		if errors.As(err, &un) || errors.As(err, &inv) {
			return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return nil, fmt.Errorf("%w: manifest signature: %v", ErrMalformed, err)
	}
	if n.Text != b.Manifest.text() {
		return nil, fmt.Errorf("%w: signed text differs from the manifest", ErrMalformed)
	}
	return b, nil
}

// Version is the policy version of the bundle's decisions: "bundle-" and its
// manifest version.
func (b *Bundle) Version() string { return "bundle-" + strconv.FormatUint(b.Manifest.Version, 10) }

// Signers returns the names of the keys that signed the manifest (verified
// only if the bundle came from [Open]).
func (b *Bundle) Signers() []string {
	var out []string
	for _, l := range strings.Split(string(b.note), "\n") {
		if rest, ok := strings.CutPrefix(l, "— "); ok {
			if name, _, ok := strings.Cut(rest, " "); ok && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// Policy loads the bundle's files, in manifest order, as one policy set whose
// version is [Bundle.Version].
func (b *Bundle) Policy(opts policy.Options) (*policy.Set, error) {
	var rules []policy.Rule
	var errs []error
	for _, f := range b.Files {
		rs, err := policy.Parse(f.Name, f.Data)
		errs = append(errs, err)
		rules = append(rules, rs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	set, err := policy.NewSet(rules, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	return set.WithVersion(b.Version())
}
