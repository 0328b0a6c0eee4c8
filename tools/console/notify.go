package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelguard/modelguard/tools"
)

// Notifier is told of each approval request filed, so that approvers learn
// of it without watching the inbox.
type Notifier interface {
	Notify(ctx context.Context, req tools.ApprovalRequest) error
}

// NotifierFunc adapts a function to a [Notifier].
type NotifierFunc func(ctx context.Context, req tools.ApprovalRequest) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, req tools.ApprovalRequest) error {
	if f == nil {
		return errors.New("console: nil NotifierFunc")
	}
	return f(ctx, req)
}

// maxNotified bounds the ids a [NotifyingQueue] remembers having notified.
const maxNotified = 4096

// NotifyingQueue is an approval queue that tells a [Notifier] of each request
// it files. The guard's call does not wait on a failed notification: the
// request is filed either way and the failure goes to OnError. Make it with
// [Notify].
type NotifyingQueue struct {
	tools.ApprovalQueue
	n       Notifier
	onError func(error)
	mu      sync.Mutex
	seen    map[string]bool
}

// Notify returns q telling n of each request filed through it (give it to
// the enforcer as its queue). A request filed again while pending is the
// same request and is notified once per instance. onError, if set, is told
// of failed notifications.
func Notify(q tools.ApprovalQueue, n Notifier, onError func(error)) *NotifyingQueue {
	return &NotifyingQueue{ApprovalQueue: q, n: n, onError: onError, seen: map[string]bool{}}
}

// Request files req and notifies a request not notified before.
func (q *NotifyingQueue) Request(ctx context.Context, req tools.ApprovalRequest) (tools.ApprovalRequest, error) {
	if q == nil || q.ApprovalQueue == nil || q.n == nil {
		return tools.ApprovalRequest{}, errors.New("console: NotifyingQueue: not built (use console.Notify)")
	}
	got, err := q.ApprovalQueue.Request(ctx, req)
	if err != nil || got.Status != tools.StatusPending || !q.first(got.ID) {
		return got, err
	}
	if nerr := q.n.Notify(context.WithoutCancel(ctx), got); nerr != nil && q.onError != nil {
		q.onError(fmt.Errorf("console: notify %s: %w", got.ID, nerr))
	}
	return got, nil
}

func (q *NotifyingQueue) first(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen[id] {
		return false
	}
	if len(q.seen) >= maxNotified {
		clear(q.seen)
	}
	q.seen[id] = true
	return true
}

// Webhook signature headers: the Unix time the body was signed at, and
// "v1=" and the hex HMAC-SHA256 under the shared secret of "v1:", that time,
// ":" and the body.
const (
	HeaderTimestamp = "X-Modelguard-Timestamp"
	HeaderSignature = "X-Modelguard-Signature"
)

// Webhook is a [Notifier] that posts each request to an incoming-webhook URL
// as JSON of the shape Slack-compatible webhooks accept ("text" and
// "blocks"; a "modelguard" object carries the request's fields for other
// receivers), signed with HMAC-SHA256 ([VerifyWebhook] checks it). The
// arguments themselves are not sent, only their digest and the approval
// link. It is safe for concurrent use once built.
type Webhook struct {
	// URL receives the POST. Required.
	URL string
	// Secret keys the HMAC-SHA256 signature. Required, at least 16 bytes.
	Secret []byte
	// ApprovalURL is the console's approval page, with "{id}" standing for
	// the request's id: "https://console.example/approvals/{id}".
	ApprovalURL string
	// Client sends the request (default: one with a 5s timeout).
	Client *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

var defaultClient = &http.Client{Timeout: 5 * time.Second}

// webhookBody is what the webhook posts.
type webhookBody struct {
	Text       string         `json:"text"`
	Blocks     []webhookBlock `json:"blocks"`
	Modelguard webhookRequest `json:"modelguard"`
}

type webhookBlock struct {
	Type string      `json:"type"`
	Text webhookText `json:"text"`
}

type webhookText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type webhookRequest struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Issuer     string    `json:"iss"`
	Subject    string    `json:"sub"`
	Agent      string    `json:"agent,omitempty"`
	Tool       string    `json:"tool"`
	ArgsDigest string    `json:"args_digest"`
	Reason     string    `json:"reason,omitempty"`
	Rules      []string  `json:"rules,omitempty"`
	URL        string    `json:"url,omitempty"`
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning to,
// so that a tool name or reason from the model cannot mention a channel or
// forge a link.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Notify posts req, signed.
func (w *Webhook) Notify(ctx context.Context, req tools.ApprovalRequest) error {
	if w == nil || w.URL == "" || len(w.Secret) < 16 {
		return errors.New("console: Webhook needs a URL and a secret of at least 16 bytes")
	}
	link := strings.ReplaceAll(w.ApprovalURL, "{id}", req.ID)
	text := fmt.Sprintf("Approval requested: %s by %s for %s", slackEscape.Replace(req.Tool),
		slackEscape.Replace(req.Subject), slackEscape.Replace(req.Reason))
	if link != "" {
		text += " — " + slackEscape.Replace(link)
	}
	body, err := json.Marshal(webhookBody{Text: text,
		Blocks: []webhookBlock{{Type: "section", Text: webhookText{Type: "mrkdwn", Text: text}}},
		Modelguard: webhookRequest{ID: req.ID, Time: req.Time, Issuer: req.Issuer, Subject: req.Subject, Agent: req.Agent,
			Tool: req.Tool, ArgsDigest: req.ArgsDigest, Reason: req.Reason, Rules: req.Rules, URL: link}})
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(HeaderTimestamp, ts)
	hr.Header.Set(HeaderSignature, signature(w.Secret, ts, body))
	c := w.Client
	if c == nil {
		c = defaultClient
	}
	resp, err := c.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("console: webhook answered %s", resp.Status)
	}
	return nil
}

func signature(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v1:" + ts + ":"))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature: a webhook body's signature is missing, wrong or too old.
var ErrBadSignature = errors.New("console: bad webhook signature")

// VerifyWebhook checks, for a receiver, the signature headers of a webhook
// body: signed with secret no more than maxAge before now (and not in the
// future by more than that).
func VerifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, maxAge time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(secret) == 0 {
		return fmt.Errorf("%w: no timestamp", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(n, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("%w: signed %v ago", ErrBadSignature, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(signature(secret, ts, body))) {
		return ErrBadSignature
	}
	return nil
}
