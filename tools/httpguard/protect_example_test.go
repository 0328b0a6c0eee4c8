package httpguard_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools/httpguard"
)

func ExampleProtect() {
	const resource = "https://tools.example.com/api" // what tokens are minted for
	key, _ := identity.GenerateKey(jose.EdDSA, "key-1")
	issuer, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(issuer.PublicKey())
	verifier, _ := identity.NewVerifier("https://id.example.com", resource, keys, identity.VerifierOptions{})

	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", claims.Agent)
	})
	h, err := httpguard.Protect(api, verifier, httpguard.Metadata{
		Resource:             resource,
		AuthorizationServers: []string{"https://id.example.com"},
		ScopesSupported:      []string{"tickets:read"},
	}, httpguard.ProtectOptions{})
	if err != nil {
		panic(err)
	}
	do := func(method, path, token string) *http.Response {
		r := httptest.NewRequest(method, "https://tools.example.com"+path, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	res := do(http.MethodGet, "/.well-known/oauth-protected-resource/api", "")
	meta, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, string(meta))
	res = do(http.MethodGet, "/api", "")
	fmt.Println(res.StatusCode, res.Header.Get("WWW-Authenticate"))
	token, _ := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{resource}, Agent: "support-bot"})
	res = do(http.MethodGet, "/api", token)
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, strings.TrimSpace(string(body)))
	// Output:
	// 200 {"resource":"https://tools.example.com/api","authorization_servers":["https://id.example.com"],"scopes_supported":["tickets:read"],"bearer_methods_supported":["header"]}
	// 401 Bearer scope="tickets:read", resource_metadata="https://tools.example.com/.well-known/oauth-protected-resource/api"
	// 200 hello support-bot
}
