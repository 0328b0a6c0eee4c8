package mcp

import (
	"context"
	"net/http"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// Keys of auth.TokenInfo.Extra under which TokenVerifier leaves the raw token
// and the verified *identity.Claims.
const (
	extraToken  = "modelguard.token"
	extraClaims = "modelguard.claims"
	extraStepUp = "modelguard.stepup"
)

// VerifierOptions configure [TokenVerifier]. The zero value is valid.
type VerifierOptions struct {
	// OnError, if set, is told why a token was refused. The client only learns
	// that it was invalid. It must be safe for concurrent use.
	OnError func(r *http.Request, err error)
}

// TokenVerifier returns a verifier of modelguard identity tokens for the SDK's
// [auth.RequireBearerToken] middleware. A token v accepts yields a TokenInfo with
// the token's scopes and expiry, the issuer and subject as UserID (so the SDK
// binds each session to one identity), and the raw token and verified claims for
// [Context]. A token v refuses yields [auth.ErrInvalidToken] and nothing else,
// so the 401 response says no more than "invalid token". It panics if v is nil.
func TokenVerifier(v tools.Verifier, opts VerifierOptions) auth.TokenVerifier {
	if v == nil {
		panic("mcp: TokenVerifier(nil)")
	}
	return func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		c, err := v.Verify(ctx, token)
		if err != nil {
			if opts.OnError != nil {
				opts.OnError(r, err)
			}
			return nil, auth.ErrInvalidToken
		}
		return tokenInfo(token, c), nil
	}
}

// tokenInfo is what the SDK learns of a verified token: its scopes and expiry,
// the issuer and subject as UserID (so the SDK binds each session to one
// identity), and the raw token and claims for [Context].
func tokenInfo(token string, c *identity.Claims) *auth.TokenInfo {
	return &auth.TokenInfo{
		Scopes:     c.Scopes,
		Expiration: c.Expiry,
		UserID:     strconv.Quote(c.Issuer) + " " + strconv.Quote(c.Subject),
		Extra:      map[string]any{extraToken: token, extraClaims: c},
	}
}

// verified is a TokenVerifier for requests httpguard already admitted: it
// takes the claims from the request's context instead of verifying again,
// and passes on the request's [httpguard.StepUp].
func verified(_ context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
	c, ok := identity.FromContext(r.Context())
	if t, _ := identity.TokenFromContext(r.Context()); !ok || c == nil || t != token {
		return nil, auth.ErrInvalidToken
	}
	ti := tokenInfo(token, c)
	if s := httpguard.StepUpFromContext(r.Context()); s != nil {
		ti.Extra[extraStepUp] = s
	}
	return ti, nil
}

// Context returns ctx prepared for a guarded call made for an MCP request: it
// carries the identity of the request and, in a [tools.Call], the MCP session id
// (unless ctx already has a Call with a session).
//
// For a request that came over HTTP (extra is not nil) the identity is the one
// of that request alone: the token [TokenVerifier] verified, or else the bearer
// token of its Authorization header, or else none. Whatever identity ctx
// carried is replaced, since the SDK derives a session's context from the
// session's first HTTP request and a later request must not inherit it. For an
// in-process request (extra is nil) ctx keeps the identity given to
// Server.Connect.
func Context(ctx context.Context, session *sdk.ServerSession, extra *sdk.RequestExtra) context.Context {
	if extra != nil {
		token, claims := requestIdentity(extra)
		ctx = identity.NewContext(identity.WithToken(ctx, token), claims)
		if extra.TokenInfo != nil {
			s, _ := extra.TokenInfo.Extra[extraStepUp].(*httpguard.StepUp)
			ctx = httpguard.WithStepUp(ctx, s)
		}
	}
	call, _ := tools.CallFromContext(ctx)
	if call.SessionID == "" && session != nil && session.ID() != "" {
		call.SessionID = session.ID()
		ctx = tools.WithCall(ctx, call)
	}
	return ctx
}

// requestIdentity returns the token (and, if verified, the claims) of one HTTP
// request; "" and nil when it has none.
func requestIdentity(extra *sdk.RequestExtra) (string, *identity.Claims) {
	if ti := extra.TokenInfo; ti != nil {
		if tok, ok := ti.Extra[extraToken].(string); ok {
			claims, _ := ti.Extra[extraClaims].(*identity.Claims)
			return tok, claims
		}
	}
	if extra.Header != nil {
		if tok, err := httpguard.BearerToken(&http.Request{Header: extra.Header}); err == nil {
			return tok, nil
		}
	}
	return "", nil
}
