package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

const mintAbout = `Mint signs a model identity token with the private JWK written by keygen
and prints it, in compact form, on standard output. The token carries iss,
sub, aud, iat, nbf, exp (iat + -ttl) and a random jti, plus the model
identity claims given by flags and any custom claims given with -claim.

Delegation: -act adds an actor to the RFC 8693 act chain (current actor
first), as a subject or a JSON object {"sub","iss","scope"}; -may-act names the
party allowed to act. Lifetime: -iat fixes the issue time, -nbf delays the
start of validity, -ttl sets exp = iat + ttl.

A -claim value that is valid JSON is decoded (-claim tier=3 is a number,
-claim 'tags=["a","b"]' a list); anything else is a string. Quote a JSON
string to keep a value like 3 a string: -claim 'id="3"'.`

// maxKeyFile bounds the private key file; a JWK is well under a kilobyte.
const maxKeyFile = 64 << 10

type mintFlags struct {
	key, iss, sub      string
	agent, tenant, env string
	scope, model       string
	aud, claims        listFlag
	ttl, maxTTL        time.Duration
	deleg              delegationFlags
}

func runTokenMint(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard token mint", "-key key.jwk -iss ISSUER -aud AUD -sub SUB [flags]", mintAbout)
	var f mintFlags
	f.register(fset)
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	claims, err := f.claimsFor(fset, pos)
	if err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	token, err := f.mint(claims)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintln(stdout, token)
	return exitOK
}

func (f *mintFlags) register(fset *flag.FlagSet) {
	fset.StringVar(&f.key, "key", "", "`file` holding the private JWK (required)")
	fset.StringVar(&f.iss, "iss", "", "`issuer` name, as verifiers expect it (required)")
	fset.Var(&f.aud, "aud", "`audience` (required; repeat for several)")
	fset.StringVar(&f.sub, "sub", "", "`subject` of the token (required)")
	fset.StringVar(&f.agent, "agent", "", "`agent` claim")
	fset.StringVar(&f.tenant, "tenant", "", "`tenant` claim")
	fset.StringVar(&f.env, "env", "", "`env`ironment claim, e.g. prod")
	fset.StringVar(&f.scope, "scope", "", "space-separated `scopes`, e.g. \"tickets:read tickets:write\"")
	fset.StringVar(&f.model, "model", "", "model as `provider/name/version`")
	fset.DurationVar(&f.ttl, "ttl", identity.DefaultTTL, "token `lifetime`")
	fset.DurationVar(&f.maxTTL, "max-ttl", identity.DefaultMaxLifetime, "refuse a -ttl above this `limit` (verifiers reject lifetimes over their MaxLifetime, 1h by default)")
	fset.Var(&f.claims, "claim", "custom claim `name=value`, value JSON or a plain string (repeatable)")
	f.deleg.register(fset)
}

// claimsFor checks the flags and returns the claims they ask for. Every error
// names the flag at fault.
func (f *mintFlags) claimsFor(fset *flag.FlagSet, pos []string) (identity.Claims, error) {
	if err := noArgs(pos); err != nil {
		return identity.Claims{}, err
	}
	if err := requireFlags(fset, "key", "iss", "aud", "sub"); err != nil {
		return identity.Claims{}, err
	}
	if err := f.checkTTL(); err != nil {
		return identity.Claims{}, err
	}
	model, err := parseModel(f.model)
	if err != nil {
		return identity.Claims{}, err
	}
	raw, err := parseClaims(f.claims)
	if err != nil {
		return identity.Claims{}, err
	}
	c := identity.Claims{
		Subject: f.sub, Audience: f.aud, Model: model,
		Agent: f.agent, Tenant: f.tenant, Env: f.env,
		Scope: strings.Join(identity.SplitScope(f.scope), " "),
		Raw:   raw,
	}
	return c, f.deleg.apply(&c, f.ttl)
}

func (f *mintFlags) checkTTL() error {
	switch {
	case f.maxTTL <= 0:
		return fmt.Errorf("-max-ttl %s: must be positive", f.maxTTL)
	case f.ttl <= 0:
		return fmt.Errorf("-ttl %s: must be positive", f.ttl)
	case f.ttl > f.maxTTL:
		return fmt.Errorf("-ttl %s: longer than -max-ttl %s", f.ttl, f.maxTTL)
	}
	return nil
}

func (f *mintFlags) mint(c identity.Claims) (string, error) {
	key, err := readPrivateKey(f.key)
	if err != nil {
		return "", err
	}
	iss, err := identity.NewIssuer(f.iss, key, identity.IssuerOptions{TTL: f.ttl})
	if err != nil {
		return "", err
	}
	return iss.Mint(c)
}

// readPrivateKey reads the private JWK at path, as keygen writes it.
func readPrivateKey(path string) (jose.JSONWebKey, error) {
	data, err := readLimited(path, maxKeyFile)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("-key: %w", err)
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(data); err != nil {
		if isKeySet(data) {
			return jose.JSONWebKey{}, fmt.Errorf("-key %s: holds a JWK Set (the public keys); give the private JWK that keygen wrote with -out", path)
		}
		return jose.JSONWebKey{}, fmt.Errorf("-key %s: not a JWK: %v", path, err)
	}
	if key.IsPublic() {
		return jose.JSONWebKey{}, fmt.Errorf("-key %s: holds a public key; give the private JWK that keygen wrote with -out", path)
	}
	return key, nil
}

// isKeySet reports whether data looks like a JWK Set document.
func isKeySet(data []byte) bool {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	return json.Unmarshal(data, &doc) == nil && doc.Keys != nil
}

// readLimited reads the file at path, refusing one longer than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: longer than %d bytes", path, limit)
	}
	return data, nil
}

// parseModel splits "provider/name/version". The name may itself contain
// slashes ("meta/llama/3.1-8b/2024-07" is provider meta, name llama/3.1-8b,
// version 2024-07); provider and version may not.
func parseModel(s string) (identity.Model, error) {
	if s == "" {
		return identity.Model{}, nil
	}
	provider, rest, _ := strings.Cut(s, "/")
	i := strings.LastIndexByte(rest, '/')
	if provider == "" || i <= 0 || i == len(rest)-1 {
		return identity.Model{}, fmt.Errorf("-model %q: want provider/name/version, each part non-empty", s)
	}
	return identity.Model{Provider: provider, Name: rest[:i], Version: rest[i+1:]}, nil
}

// claimFlags maps the registered claim names to the flag that sets them; -claim
// may not set them, because the issuer would silently drop them.
var claimFlags = map[string]string{
	"iss": "-iss", "sub": "-sub", "aud": "-aud", "agent": "-agent", "tenant": "-tenant",
	"env": "-env", "scope": "-scope", "model": "-model",
	"exp": "-ttl", "nbf": "-nbf", "iat": "-iat", "jti": "-jti", "act": "-act", "may_act": "-may-act",
}

// parseClaims turns -claim name=value flags into custom claims.
func parseClaims(flags []string) (map[string]any, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	raw := make(map[string]any, len(flags))
	for _, kv := range flags {
		name, value, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("-claim %q: want name=value", kv)
		case claimFlags[name] != "":
			return nil, fmt.Errorf("-claim %s: a registered claim (set by %s)", name, claimFlags[name])
		}
		if _, dup := raw[name]; dup {
			return nil, fmt.Errorf("-claim %s: given twice", name)
		}
		raw[name] = claimValue(value)
	}
	return raw, nil
}

// claimValue decodes value as JSON if it is JSON (numbers kept exact), and
// returns it as a string otherwise.
func claimValue(value string) any {
	if !json.Valid([]byte(value)) {
		return value
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(value)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return value
	}
	return v
}
