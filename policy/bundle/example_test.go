package bundle_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/bundle"
	"github.com/modelguard/modelguard/tools"
)

// A fleet instance fetches a signed bundle, swaps it in for every guard, and
// refuses a bundle signed by a key it does not trust; decisions carry the
// bundle's version.
func ExampleSource() {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "policy.example/prod")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	mk := func(v uint64, s note.Signer) []byte {
		b, _ := bundle.Build(v, time.Now(), []bundle.File{{Name: "tickets.yaml",
			Data: []byte("rules:\n  - id: read\n    effect: permit\n    tools: [tickets.get]\n")}})
		_ = b.Sign(s)
		data, _ := b.Marshal()
		return data
	}
	served := mk(1, signer)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(served) }))
	defer srv.Close()

	key, _ := identity.GenerateKey(jose.EdDSA, "k1")
	iss, _ := identity.NewIssuer("https://id.example", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(iss.PublicKey())
	v, _ := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{})
	empty, _ := policy.NewSet(nil, policy.Options{})
	sink := &audit.Memory{}
	enf, _ := tools.NewEnforcer(v, empty, sink, tools.Options{})
	get, _ := tools.Wrap(enf, tools.Tool{Name: "tickets.get"}, func(context.Context, struct{}) (string, error) { return "T-1", nil })

	src, _ := bundle.NewSource(srv.URL, bundle.SourceOptions{Keys: note.VerifierList(verifier)})
	ctx := context.Background()
	_, err := src.Update(ctx, enf)
	fmt.Println("v1:", err)

	other, _, _ := note.GenerateKey(rand.Reader, "policy.example/prod")
	otherSigner, _ := note.NewSigner(other)
	served = mk(2, otherSigner)
	_, err = src.Update(ctx, enf)
	fmt.Println("v2 refused:", err != nil, "running:", enf.Policy().Version())

	tok, _ := iss.Mint(identity.Claims{Subject: "bot", Audience: []string{"modelguard"}})
	out, err := get(identity.WithToken(ctx, tok), struct{}{})
	evs := sink.Events()
	fmt.Println(out, err, evs[len(evs)-1].PolicyVersion)
	// Output:
	// v1: <nil>
	// v2 refused: true running: bundle-1
	// T-1 <nil> bundle-1
}
