package spiffe_test

import (
	"context"
	"errors"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/spiffe"
)

const bot = "spiffe://example.org/agent/bot"

func TestVerifier(t *testing.T) {
	t.Parallel()
	a := newAuthority(t, "example.org", "a1")
	other := newAuthority(t, "other.org", "o1")
	set := jwtbundle.NewSet(bundle(a), bundle(other))
	id := spiffeid.RequireFromString(bot)
	agents := spiffeid.RequireFromString("spiffe://example.org/agent")
	tests := []struct {
		name  string
		match spiffeid.Matcher
		token string
		want  error
	}{
		{"exact", spiffeid.MatchID(id), a.svid(t, bot, "tools"), nil},
		{"trust domain", spiffeid.MatchMemberOf(a.td), a.svid(t, bot, "tools"), nil},
		{"path prefix", spiffeid.MatchIDPrefix(agents), a.svid(t, bot, "tools"), nil},
		{"one of", spiffeid.MatchOneOf(id, agents), a.svid(t, bot, "tools"), nil},
		{"several audiences", spiffeid.MatchID(id), a.svid(t, bot, "other", "tools"), nil},
		{"other audience", spiffeid.MatchID(id), a.svid(t, bot, "other"), identity.ErrAudience},
		{"other workload", spiffeid.MatchID(id), a.svid(t, "spiffe://example.org/agent/rogue", "tools"), spiffe.ErrID},
		{"prefix is not a segment", spiffeid.MatchIDPrefix(agents), a.svid(t, "spiffe://example.org/agents/x", "tools"), spiffe.ErrID},
		{"other trust domain", spiffeid.MatchMemberOf(a.td), other.svid(t, "spiffe://other.org/bot", "tools"), spiffe.ErrID},
		{"signed by other domain's key", spiffeid.MatchAny(), other.svid(t, bot, "tools"), identity.ErrUnknownKey},
		{"untrusted domain", spiffeid.MatchAny(), a.svid(t, "spiffe://nowhere.org/x", "tools"), identity.ErrIssuer},
		{"not a SPIFFE ID", spiffeid.MatchAny(), a.svid(t, "bot", "tools"), identity.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := spiffe.NewVerifier(set, "tools", tt.match, identity.VerifierOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), tt.token)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SPIFFEID != bot || c.TrustDomain != "example.org" || v.Audience() != "tools" {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func TestNewVerifierRejects(t *testing.T) {
	t.Parallel()
	_, err := spiffe.NewVerifier(nil, "", nil, identity.VerifierOptions{})
	if !errors.Is(err, identity.ErrConfig) {
		t.Fatal(err)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 3 {
		t.Errorf("%d problems, want 3: %v", n, err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	a := newAuthority(t, "example.org", "a1")
	v, err := spiffe.NewVerifier(bundle(a), "tools", spiffeid.MatchAny(), identity.VerifierOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), a.svid(t, bot, "tools")); !errors.Is(err, identity.ErrKeysUnavailable) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestWorkloadVerifierNoAgent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := spiffe.NewWorkloadVerifier(ctx, "tools", spiffeid.MatchAny(), identity.VerifierOptions{},
		workloadapiAddr("unix:///nonexistent/agent.sock"))
	if !errors.Is(err, identity.ErrKeysUnavailable) {
		t.Fatalf("err = %v, want ErrKeysUnavailable", err)
	}
}
