package mcpgo

import (
	"context"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// urlElicitation is the protocol revision that has URL-mode elicitation and
// the URLElicitationRequiredError (-32042) to ask for it (2025-11-25
// client/elicitation, "URL Mode Elicitation").
const urlElicitation = "2025-11-25"

// approvalAnswer answers a call that waits for approval request de.Approval.
// A client that declared URL-mode elicitation on revision 2025-11-25 gets
// the error -32042 sending its user to the approval page (template, with the
// request id); it retries the call once the user has approved. Any other gets
// a tool error naming the request id and how to get it approved
// ([httpguard.ApprovalText]).
func approvalAnswer(ctx context.Context, de *tools.DeniedError, template string) (*mcp.CallToolResult, error) {
	link := ""
	if template != "" {
		link = httpguard.ApprovalURL(template, de.Approval.ID)
		if urlElicitationClient(ctx) {
			return nil, mcp.URLElicitationRequiredError{Elicitations: []mcp.ElicitationParams{{
				Mode:          mcp.ElicitationModeURL,
				Message:       "Approve the call to " + de.Tool + " (request " + de.Approval.ID + "), then it will be retried.",
				URL:           link,
				ElicitationID: de.Approval.ID,
			}}}
		}
	}
	return mcp.NewToolResultError(httpguard.ApprovalText(de, link)), nil
}

func urlElicitationClient(ctx context.Context) bool {
	if server.RequestProtocolVersion(ctx) != urlElicitation {
		return false
	}
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	if !ok {
		return false
	}
	caps := s.GetClientCapabilities()
	return caps.Elicitation != nil && caps.Elicitation.URL != nil
}
