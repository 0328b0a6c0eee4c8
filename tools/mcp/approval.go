package mcp

import (
	"context"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// approvalSlot is where a guarded handler leaves the denial of a call that
// waits for approval, for [Middleware] to answer.
type approvalSlot struct {
	mu sync.Mutex
	de *tools.DeniedError
}

type approvalKey struct{}

// noteApproval leaves in ctx's slot the denial in err, if it waits for approval.
func noteApproval(ctx context.Context, err error) {
	if de := httpguard.ApprovalDenial(err); de != nil {
		if s, ok := ctx.Value(approvalKey{}).(*approvalSlot); ok {
			s.mu.Lock()
			s.de = de
			s.mu.Unlock()
		}
	}
}

// urlElicitation is the protocol revision that has URL-mode elicitation and
// the URLElicitationRequiredError (-32042) to ask for it (2025-11-25
// client/elicitation, "URL Mode Elicitation").
const urlElicitation = "2025-11-25"

// approvalAnswer answers a call that waits for approval request de.Approval.
// A client that declared URL-mode elicitation on revision 2025-11-25 gets
// the error -32042 sending its user to the approval page (template, with the
// request id); it retries the call once the user has approved. Any other gets
// res, its text replaced by [httpguard.ApprovalText].
func approvalAnswer(ss *sdk.ServerSession, de *tools.DeniedError, template string, res sdk.Result) (sdk.Result, error) {
	link := ""
	if template != "" {
		link = httpguard.ApprovalURL(template, de.Approval.ID)
		if p := initParams(ss); p != nil && p.ProtocolVersion == urlElicitation && p.Capabilities != nil &&
			p.Capabilities.Elicitation != nil && p.Capabilities.Elicitation.URL != nil {
			return nil, sdk.URLElicitationRequiredError([]*sdk.ElicitParams{{
				Mode:          "url",
				Message:       "Approve the call to " + de.Tool + " (request " + de.Approval.ID + "), then it will be retried.",
				URL:           link,
				ElicitationID: de.Approval.ID,
			}})
		}
	}
	if r, ok := res.(*sdk.CallToolResult); ok && r != nil {
		r.Content = []sdk.Content{&sdk.TextContent{Text: httpguard.ApprovalText(de, link)}}
	}
	return res, nil
}

func initParams(ss *sdk.ServerSession) *sdk.InitializeParams {
	if ss == nil {
		return nil
	}
	return ss.InitializeParams()
}
