package httpguard_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools/httpguard"
)

func ExampleMiddleware() {
	key, _ := identity.GenerateKey(jose.EdDSA, "key-1")
	issuer, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(issuer.PublicKey())
	verifier, _ := identity.NewVerifier("https://id.example.com", "support-tools", keys, identity.VerifierOptions{})

	tools := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Guarded tools called with r.Context() see the caller's token.
		claims, _ := identity.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", claims.Agent)
	})
	srv := httptest.NewServer(httpguard.Middleware(verifier, httpguard.Options{})(tools))
	defer srv.Close()

	token, _ := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{"support-tools"},
		Agent: "support-bot"})
	for _, auth := range []string{"Bearer " + token, "Bearer not-a-token", ""} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		client := http.Client{Timeout: 5 * time.Second}
		res, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d %q %q\n", res.StatusCode, res.Header.Get("WWW-Authenticate"), body)
	}
	// Output:
	// 200 "" "hello support-bot"
	// 401 "Bearer error=\"invalid_token\"" "Unauthorized\n"
	// 401 "Bearer" "Unauthorized\n"
}

func ExampleMetadataURL() {
	resource, _ := httpguard.CanonicalResource("HTTPS://Tools.Example:443/mcp/")
	metaURL, _ := httpguard.MetadataURL(resource)
	fmt.Println(resource)
	fmt.Println(metaURL)
	fmt.Println(httpguard.Challenge("", "invalid_token", "tools:read", metaURL))
	// Output:
	// https://tools.example/mcp
	// https://tools.example/.well-known/oauth-protected-resource/mcp
	// Bearer error="invalid_token", scope="tools:read", resource_metadata="https://tools.example/.well-known/oauth-protected-resource/mcp"
}
