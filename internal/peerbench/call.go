package peerbench

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/modelguard/modelguard/identity"
)

// policies holds the one policy in the three languages.
//
//go:embed policies
var policies embed.FS

func mustPolicy(name string) []byte {
	b, err := policies.ReadFile("policies/" + name)
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	return b
}

// Identity is the model identity a call is made with: the claims the policy
// reads, in a form every engine can be given.
type Identity struct {
	Subject string
	Agent   string
	Env     string
	Scopes  []string
}

// Claims returns id as verified modelguard claims, as an identity.Verifier
// would produce them (Scope and Scopes agree).
func (id Identity) Claims() *identity.Claims {
	return &identity.Claims{
		Subject: id.Subject,
		Agent:   id.Agent,
		Env:     id.Env,
		Scope:   strings.Join(id.Scopes, " "),
		Scopes:  slices.Clone(id.Scopes),
	}
}

// Call is one authorization question: may this identity call this tool with
// these arguments?
type Call struct {
	Identity Identity
	Tool     string
	// Args is a value of the tool's input type (see [Tools]).
	Args any
}

// Verdict is an engine's answer to a [Call].
type Verdict struct {
	Allowed bool
	// Rules are the ids of the rules that decided, sorted: the matching forbids
	// of a denial, else the matching permits. Empty for a default deny.
	Rules []string
}

// The tools' input types. Policies see their fields by JSON name.
type (
	TicketArgs struct {
		ID string `json:"id"`
	}
	PaymentArgs struct {
		AmountCents int64  `json:"amount_cents"`
		Payee       string `json:"payee"`
	}
	RepoArgs struct {
		Path string `json:"path"`
	}
	SecretArgs struct {
		Name string `json:"name"`
	}
)

// Tools maps every tool name the policy knows, and one it does not
// (tickets.delete, which no rule covers), to its input type.
var Tools = map[string]reflect.Type{
	"tickets.get":        reflect.TypeFor[TicketArgs](),
	"tickets.delete":     reflect.TypeFor[TicketArgs](),
	"attachments.export": reflect.TypeFor[TicketArgs](),
	"payments.initiate":  reflect.TypeFor[PaymentArgs](),
	"repo.read":          reflect.TypeFor[RepoArgs](),
	"secrets.get":        reflect.TypeFor[SecretArgs](),
}

// argsMap returns c.Args as the JSON object the tool would receive, with numbers
// kept as json.Number, which is how OPA decodes JSON itself.
func (c Call) argsMap() (map[string]any, error) {
	if want, ok := Tools[c.Tool]; !ok || reflect.TypeOf(c.Args) != want {
		return nil, fmt.Errorf("peerbench: tool %q does not take %T", c.Tool, c.Args)
	}
	b, err := json.Marshal(c.Args)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}
