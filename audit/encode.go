package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendEvent appends the JSON encoding/json produces for e, byte for byte,
// without its reflection: encoding is most of the cost of a record. It
// reports false for what it leaves to encoding/json: a recovery record, a
// time outside years 0–9999, and every event if [Event] gained a field this
// encoder does not know (see fastFields).
func appendEvent(dst []byte, e *Event) ([]byte, bool) {
	if !fastOK || e.Torn != nil || e.History != nil {
		return dst, false
	}
	dst = append(dst, '{')
	if e.Seq != 0 {
		dst = strconv.AppendUint(append(dst, `"seq":`...), e.Seq, 10)
		dst = append(dst, ',')
	}
	dst = appendString(append(dst, `"id":`...), e.ID)
	dst = append(dst, `,"time":"`...)
	var err error
	if dst, err = e.Time.AppendText(dst); err != nil {
		return dst, false
	}
	dst = appendString(append(dst, `","phase":`...), string(e.Phase))
	dst = appendString(append(dst, `,"gen_ai.tool.call.id":`...), e.CallID)
	dst = appendString(append(dst, `,"gen_ai.tool.name":`...), e.Tool)
	dst = appendString(append(dst, `,"decision":`...), e.Decision)
	dst = appendOpt(dst, `,"code":`, e.Code)
	dst = appendList(dst, `,"rules":`, e.Rules)
	dst = appendList(dst, `,"reasons":`, e.Reasons)
	dst = appendList(dst, `,"controls":`, e.Controls)
	dst = appendList(dst, `,"errors":`, e.Errors)
	dst = appendOpt(dst, `,"policy.version":`, e.PolicyVersion)
	dst = appendList(dst, `,"shadow.rules":`, e.Shadow)
	if e.WouldFlip {
		dst = append(dst, `,"shadow.would_flip":true`...)
	}
	dst = appendList(dst, `,"secrets":`, e.Secrets)
	dst = appendList(dst, `,"redacted":`, e.Redacted)
	if g := e.Grant; g != nil {
		dst = appendString(append(dst, `,"grant":{"jti":`...), g.ID)
		dst = appendString(append(dst, `,"approver":`...), g.Approver)
		dst = append(appendOpt(dst, `,"request":`, g.Request), '}')
	}
	dst = appendInt(dst, `,"retry_after_ns":`, int64(e.RetryAfter))
	dst = appendIdentity(append(dst, `,"identity":`...), &e.Identity)
	dst = appendOpt(dst, `,"gen_ai.conversation.id":`, e.SessionID)
	dst = appendOpt(dst, `,"prompt.id":`, e.PromptID)
	dst = appendOpt(dst, `,"trace_id":`, e.TraceID)
	dst = appendOpt(dst, `,"args.digest":`, e.ArgsDigest)
	if dst, err = appendRaw(dst, `,"args":`, e.Args); err != nil {
		return dst, false
	}
	dst = appendOpt(dst, `,"output.digest":`, e.OutputDigest)
	if dst, err = appendRaw(dst, `,"output":`, e.Output); err != nil {
		return dst, false
	}
	dst = appendOpt(dst, `,"outcome":`, e.Outcome)
	dst = appendInt(dst, `,"duration_ns":`, int64(e.Duration))
	dst = appendOpt(dst, `,"error.message":`, e.Error)
	dst = appendOpt(dst, `,"error.type":`, e.ErrorType)
	dst = appendList(dst, `,"labels":`, e.Labels)
	return append(dst, '}'), true
}

// fastFields are the fields appendEvent and appendIdentity encode, as
// "Name json-tag", in order. If [Event] or [Identity] changes, fastOK turns
// the fast path off (records stay correct, only slower) and a test fails.
var fastFields = map[reflect.Type]string{
	reflect.TypeFor[Event](): "Seq seq,omitempty|ID id|Time time|Phase phase|CallID gen_ai.tool.call.id|" +
		"Tool gen_ai.tool.name|Decision decision|Code code,omitempty|Rules rules,omitempty|" +
		"Reasons reasons,omitempty|Controls controls,omitempty|Errors errors,omitempty|" +
		"PolicyVersion policy.version,omitempty|Shadow shadow.rules,omitempty|" +
		"WouldFlip shadow.would_flip,omitempty|Secrets secrets,omitempty|Redacted redacted,omitempty|" +
		"Grant grant,omitempty|RetryAfter retry_after_ns,omitempty|Identity identity|" +
		"SessionID gen_ai.conversation.id,omitempty|PromptID prompt.id,omitempty|TraceID trace_id,omitempty|" +
		"ArgsDigest args.digest,omitempty|Args args,omitempty|OutputDigest output.digest,omitempty|" +
		"Output output,omitempty|Outcome outcome,omitempty|Duration duration_ns,omitempty|" +
		"Error error.message,omitempty|ErrorType error.type,omitempty|Labels labels,omitempty|" +
		"History history,omitempty|Torn torn,omitempty",
	reflect.TypeFor[Identity](): "Issuer iss,omitempty|Subject sub,omitempty|TokenID jti,omitempty|" +
		"Agent gen_ai.agent.id,omitempty|Tenant tenant,omitempty|Env env,omitempty|" +
		"ModelProvider gen_ai.provider.name,omitempty|ModelName gen_ai.request.model,omitempty|" +
		"ModelVersion model.version,omitempty|Scopes scopes,omitempty|Act act,omitempty",
	reflect.TypeFor[GrantUse](): "ID jti|Approver approver|Request request,omitempty",
}

var fastOK = func() bool {
	for t, want := range fastFields {
		var got []string
		for f := range t.Fields() {
			got = append(got, f.Name+" "+f.Tag.Get("json"))
		}
		if strings.Join(got, "|") != want {
			return false
		}
	}
	return true
}()

// appendInt appends an omitempty integer field.
func appendInt(dst []byte, key string, n int64) []byte {
	if n == 0 {
		return dst
	}
	return strconv.AppendInt(append(dst, key...), n, 10)
}

// appendRaw appends an omitempty json.RawMessage field as encoding/json
// does: validated, compacted, HTML-escaped.
func appendRaw(dst []byte, key string, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 {
		return dst, nil
	}
	var c bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return dst, err
	}
	out := bytes.NewBuffer(append(dst, key...))
	json.HTMLEscape(out, c.Bytes())
	return out.Bytes(), nil
}

func appendIdentity(dst []byte, id *Identity) []byte {
	n := len(dst)
	dst = append(dst, '{')
	dst = appendOpt(dst, `,"iss":`, id.Issuer)
	dst = appendOpt(dst, `,"sub":`, id.Subject)
	dst = appendOpt(dst, `,"jti":`, id.TokenID)
	dst = appendOpt(dst, `,"gen_ai.agent.id":`, id.Agent)
	dst = appendOpt(dst, `,"tenant":`, id.Tenant)
	dst = appendOpt(dst, `,"env":`, id.Env)
	dst = appendOpt(dst, `,"gen_ai.provider.name":`, id.ModelProvider)
	dst = appendOpt(dst, `,"gen_ai.request.model":`, id.ModelName)
	dst = appendOpt(dst, `,"model.version":`, id.ModelVersion)
	dst = appendList(dst, `,"scopes":`, id.Scopes)
	dst = appendList(dst, `,"act":`, id.Act)
	if len(dst) > n+1 {
		dst = append(dst[:n+1], dst[n+2:]...) // drop the first field's comma
	}
	return append(dst, '}')
}

// appendOpt appends an omitempty string field.
func appendOpt(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return appendString(append(dst, key...), s)
}

// appendList appends an omitempty []string field.
func appendList(dst []byte, key string, l []string) []byte {
	if len(l) == 0 {
		return dst
	}
	dst = append(append(dst, key...), '[')
	for i, s := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the ASCII bytes a JSON string holds unescaped.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendString quotes s as encoding/json does with HTML escaping: <, > and &
// escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

// appendMarshal appends json.Marshal(e), through the fast path where it
// applies.
func appendMarshal(dst []byte, e *Event) ([]byte, error) {
	if b, ok := appendEvent(dst, e); ok {
		return b, nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	return append(dst, b...), nil
}
