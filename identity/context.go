package identity

import "context"

type tokenKey struct{}

type claimsKey struct{}

// WithToken returns a copy of ctx that carries the raw, unverified identity token.
// A guard reads it from there and verifies it on every call.
func WithToken(ctx context.Context, token string) context.Context {
	if ctx == nil { // context.WithValue panics on a nil parent; a nil ctx here is the background
		ctx = context.Background()
	}
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFromContext returns the raw token stored by [WithToken].
func TokenFromContext(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	t, ok := ctx.Value(tokenKey{}).(string)
	return t, ok && t != ""
}

// NewContext returns a copy of ctx that carries verified claims. Only code that
// verified the token (a guard, an HTTP middleware) should call it.
func NewContext(ctx context.Context, c *Claims) context.Context {
	if ctx == nil { // context.WithValue panics on a nil parent; a nil ctx here is the background
		ctx = context.Background()
	}
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the verified claims stored by [NewContext].
func FromContext(ctx context.Context) (*Claims, bool) {
	if ctx == nil {
		return nil, false
	}
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
