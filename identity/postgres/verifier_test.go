package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// cluster is two application instances, each with its own pool, store and
// verifier, sharing one schema; admin is a third store, an operator's tool.
type cluster struct {
	vs    [2]*identity.Verifier
	admin identitytest.Store
}

func newCluster(t *testing.T, k *identitytest.Kit, opts identity.VerifierOptions) cluster {
	t.Helper()
	p := pool(t)
	name := schema(t, p)
	var c cluster
	for i := range c.vs {
		o := opts
		o.Store = open(t, ownPool(t, p), name, k.Now)
		c.vs[i] = k.Verifier(t, o)
	}
	c.admin = open(t, ownPool(t, p), name, k.Now)
	return c
}

func ownPool(t *testing.T, p *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	own, err := pgxpool.New(context.Background(), p.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(own.Close)
	return own
}

func TestOneTimeAcrossInstances(t *testing.T) {
	k := identitytest.New(t, identitytest.Options{Start: t0})
	c := newCluster(t, k, identity.VerifierOptions{OneTime: true})
	tok := k.Mint(t, identity.Claims{})
	ctx := context.Background()
	if _, err := c.vs[0].Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for i, v := range c.vs {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, identity.ErrReplay) {
			t.Errorf("instance %d: second use: %v, want ErrReplay", i, err)
		}
	}
}

// TestRevocationReachesEveryInstance revokes through the operator's store and
// checks that both instances, which had the token cached, refuse it once
// their revocation lists are RevocationInterval old.
func TestRevocationReachesEveryInstance(t *testing.T) {
	k := identitytest.New(t, identitytest.Options{Start: t0})
	const every = 5 * time.Second
	c := newCluster(t, k, identity.VerifierOptions{RevocationInterval: every})
	ctx := context.Background()
	tokens := map[identity.RevocationKind]string{
		identity.RevokeToken:   k.Mint(t, identity.Claims{ID: "jti-revoked"}),
		identity.RevokeSubject: k.Mint(t, identity.Claims{Subject: "model:revoked"}),
		identity.RevokeAgent:   k.Mint(t, identity.Claims{Agent: "bot-revoked"}),
	}
	values := map[identity.RevocationKind]string{
		identity.RevokeToken: "jti-revoked", identity.RevokeSubject: "model:revoked", identity.RevokeAgent: "bot-revoked",
	}
	for _, v := range c.vs {
		for _, tok := range tokens {
			if _, err := v.Verify(ctx, tok); err != nil { // now cached on both
				t.Fatal(err)
			}
		}
	}
	for kind, val := range values {
		if err := c.admin.Revoke(ctx, identity.Revocation{Kind: kind, Issuer: k.Issuer(), Value: val}); err != nil {
			t.Fatal(err)
		}
	}
	k.Advance(every)
	for i, v := range c.vs {
		for kind, tok := range tokens {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, identity.ErrRevoked) {
				t.Errorf("instance %d, %s revoked: %v, want ErrRevoked", i, kind, err)
			}
		}
		if _, err := v.Verify(ctx, k.Mint(t, identity.Claims{})); err != nil {
			t.Errorf("instance %d refuses an unrevoked token: %v", i, err)
		}
	}
}

// TestStoreDownDenies closes the store's pool: every verification that needs
// the store is refused with ErrStore, even for a token already cached.
func TestStoreDownDenies(t *testing.T) {
	k := identitytest.New(t, identitytest.Options{Start: t0})
	p := pool(t)
	own := ownPool(t, p)
	name := schema(t, p)
	cached := k.Verifier(t, identity.VerifierOptions{Store: open(t, own, name, k.Now)})
	once := k.Verifier(t, identity.VerifierOptions{Store: open(t, own, name, k.Now), OneTime: true})
	tok := k.Mint(t, identity.Claims{})
	if _, err := cached.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	own.Close() // the database goes away
	k.Advance(identity.DefaultRevocationInterval)
	for name, v := range map[string]*identity.Verifier{"cached": cached, "one-time": once} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, identity.ErrStore) {
			t.Errorf("%s: store down: %v, want ErrStore", name, err)
		}
	}
}
