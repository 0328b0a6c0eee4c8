package httpguard

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/modelguard/modelguard/tools"
)

// ErrBadApprovalURL: an approval URL template is not an absolute https URL
// (http only on a loopback host) holding "{id}" in its path.
var ErrBadApprovalURL = errors.New("httpguard: approval URL template must be an absolute https URL with {id} in its path")

// CheckApprovalURL reports whether template is usable as an approval URL
// template: an absolute https URL (http only for a loopback host) whose path
// holds "{id}", where [ApprovalURL] puts the request id.
func CheckApprovalURL(template string) error {
	i := strings.Index(template, "{id}")
	if i < 0 {
		return fmt.Errorf("%w: %q", ErrBadApprovalURL, template)
	}
	u, err := url.Parse(template[:i] + "x" + template[i+len("{id}"):])
	if err != nil || CheckResource(template[:i]+"x") != nil || u.Host == "" || !strings.Contains(u.Path, "x") {
		return fmt.Errorf("%w: %q", ErrBadApprovalURL, template)
	}
	return nil
}

// ApprovalURL returns the approval page of request id: template with every
// "{id}" replaced by id, path-escaped.
func ApprovalURL(template, id string) string {
	return strings.ReplaceAll(template, "{id}", url.PathEscape(id))
}

// ApprovalDenial returns the denial in err if it is a call that waits for a
// filed approval request (tools.CodeApprovalRequired with a request), or nil.
func ApprovalDenial(err error) *tools.DeniedError {
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired || de.Approval == nil || de.Approval.ID == "" {
		return nil
	}
	return de
}

// ApprovalText is what the model is told of a call that waits for approval
// when its client cannot send the user to the approval page: the denial's own
// text, the request id, where a human approves it (link, if not empty) and
// that the same call succeeds once approved. It names no rule. Without a
// request it is the denial's text.
func ApprovalText(de *tools.DeniedError, link string) string {
	if de == nil || de.Approval == nil {
		return tools.ModelText(de)
	}
	text := de.Error()
	if !strings.Contains(text, de.Approval.ID) {
		text += "; approval request " + de.Approval.ID + " is pending"
	}
	if link != "" {
		return text + "; an approver can approve it at " + link + "; make the same call again once it is approved"
	}
	return text + "; an approver can approve it with `modelguard approve grant " + de.Approval.ID +
		"`; make the same call again once it is approved"
}
