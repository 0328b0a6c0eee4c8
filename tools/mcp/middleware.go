package mcp

import (
	"context"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/tools"
)

// Middleware returns receiving middleware for an MCP server whose tools are the
// tools of r (add it with Server.AddReceivingMiddleware):
//
//   - tools/list answers only with tools the caller's identity could be allowed
//     to call (see [tools.Registry.Visible]); with no valid identity, none;
//   - tools/call of a tool r does not hold is denied and recorded by r, and the
//     model gets an error result, whatever handler the server has for it.
//
// Everything else passes through unchanged.
func Middleware(r *tools.Registry) sdk.Middleware {
	if r == nil {
		panic("mcp: Middleware(nil)")
	}
	return func(next sdk.MethodHandler) sdk.MethodHandler {
		return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
			switch method {
			case "tools/list":
				res, err := next(ctx, method, req)
				if list, ok := res.(*sdk.ListToolsResult); ok && err == nil {
					list.Tools = visible(Context(ctx, session(req), req.GetExtra()), r, list.Tools)
				}
				return res, err
			case "tools/call":
				p, ok := req.GetParams().(*sdk.CallToolParamsRaw)
				if ok && !holds(r, p.Name) {
					return callResult(r.Call(Context(ctx, session(req), req.GetExtra()), p.Name, p.Arguments)), nil
				}
			}
			return next(ctx, method, req)
		}
	}
}

func visible(ctx context.Context, r *tools.Registry, listed []*sdk.Tool) []*sdk.Tool {
	may := map[string]bool{}
	for _, h := range r.Visible(ctx) {
		may[h.Tool().Name] = true
	}
	out := make([]*sdk.Tool, 0, len(may))
	for _, t := range listed {
		if may[t.Name] {
			out = append(out, t)
		}
	}
	return out
}

func holds(r *tools.Registry, name string) bool {
	for _, h := range r.Handlers() {
		if h.Tool().Name == name {
			return true
		}
	}
	return false
}

func session(req sdk.Request) *sdk.ServerSession {
	s, _ := req.GetSession().(*sdk.ServerSession)
	return s
}
