package ocsf

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modelguard/modelguard/audit"
)

// ErrRecord is wrapped by the error for a line of the log that is not an audit
// record.
var ErrRecord = errors.New("ocsf: not an audit record")

// maxRecord bounds one line of the log, as the audit package does.
const maxRecord = 16 << 20

// Convert maps one stored audit record (its exact bytes, as on its line) to an
// OCSF event.
func Convert(rec []byte, opts Options) (Event, error) {
	var e audit.Event
	if err := json.Unmarshal(rec, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if e.Seq == 0 {
		return Event{}, fmt.Errorf("%w: no sequence number", ErrRecord)
	}
	out := base(&e, opts)
	sum := sha256.Sum256(rec)
	out.RawDataHash = Fingerprint{AlgorithmID: 3, Algorithm: "SHA-256", Value: hex.EncodeToString(sum[:])}
	leaf := tlog.RecordHash(rec)
	m := Merkle{LeafIndex: e.Seq - 1, LeafHash: base64.StdEncoding.EncodeToString(leaf[:])}
	if c := opts.Checkpoint; c != nil {
		m.Checkpoint = &Checkpoint{Origin: c.Origin, Size: c.Size, RootHash: base64.StdEncoding.EncodeToString(c.Hash[:]),
			Verified: opts.Verified, Covered: e.Seq <= uint64(max(c.Size, 0))}
	}
	out.Unmapped.Modelguard.Merkle = m
	return out, nil
}

func base(e *audit.Event, opts Options) Event {
	allowed := e.Decision == audit.Allow
	out := Event{ClassUID: ClassUID, ClassName: "API Activity", CategoryUID: CategoryUID, CategoryName: "Application Activity",
		ActivityID: ActivityUID, ActivityName: activityName, TypeUID: TypeUID, TypeName: "API Activity: Other",
		Time: e.Time.UnixMilli(), Message: message(e), Duration: e.Duration.Milliseconds(),
		Metadata: Metadata{Version: Version, Product: Product{Name: "modelguard", VendorName: "modelguard", Version: opts.ProductVersion},
			Profiles: []string{"ai_operation", "security_control"}, UID: e.ID, Sequence: e.Seq, CorrelationUID: e.CallID,
			LogName: opts.LogName, TenantUID: e.Identity.Tenant},
		API: API{Operation: e.Tool, Service: Service{Name: "modelguard"}},
	}
	if out.API.Operation == "" {
		out.API.Operation = string(e.Phase) // policy, kill and recovery records name no tool
	}
	out.SeverityID, out.Severity = 1, "Informational"
	out.StatusID, out.Status = 1, "Success"
	out.ActionID, out.Action, out.DispositionID, out.Disposition = 1, "Allowed", 1, "Allowed"
	if !allowed {
		out.SeverityID, out.Severity = 3, "Medium"
		out.StatusID, out.Status = 2, "Failure"
		out.ActionID, out.Action, out.DispositionID, out.Disposition = 2, "Denied", 2, "Blocked"
	}
	if e.Outcome == audit.OutcomeError || e.Outcome == audit.OutcomePanic {
		out.StatusID, out.Status = 2, "Failure"
	}
	out.StatusCode = e.Code
	out.StatusDetail = strings.Join(e.Reasons, "; ")
	identify(&out, e)
	if e.CallID != "" {
		out.API.Request = &Request{UID: e.CallID}
	}
	if e.Outcome != "" || e.Error != "" {
		out.API.Response = &Response{Error: e.ErrorClass(), ErrorMessage: e.Error, Message: e.Outcome}
	}
	if e.PolicyVersion != "" || len(e.Rules) > 0 {
		out.Policy = &Policy{UID: e.PolicyVersion, Name: strings.Join(e.Rules, ","), IsApplied: true}
	}
	if e.Identity.ModelProvider != "" && e.Identity.ModelName != "" {
		out.AIModel = &AIModel{AIProvider: e.Identity.ModelProvider, Name: e.Identity.ModelName, Version: e.Identity.ModelVersion}
	}
	if e.PromptID != "" {
		out.MessageContext = &MessageContext{UID: e.PromptID, Service: Service{Name: "modelguard"}}
	}
	out.Unmapped.Modelguard = Record{Phase: string(e.Phase), Rules: e.Rules, Reasons: e.Reasons, Controls: e.Controls,
		ArgsDigest: e.ArgsDigest, OutputDigest: e.OutputDigest, Grant: e.Grant, Scopes: e.Identity.Scopes, Act: e.Identity.Act}
	return out
}

// identify fills the actor and the source endpoint. The schema requires at
// least one attribute of each; a record without an identity (a policy or kill
// record, a call without a token) names modelguard itself.
func identify(out *Event, e *audit.Event) {
	id := &e.Identity
	if id.Subject != "" {
		out.Actor.User = &User{UID: id.Subject, Name: id.Subject, TypeID: 4, Type: "Service", Domain: id.Issuer}
	}
	out.Actor.AppName = id.Agent
	if e.SessionID != "" {
		out.Actor.Session = &Session{UID: e.SessionID, Issuer: id.Issuer}
	}
	if out.Actor.User == nil && out.Actor.AppName == "" && out.Actor.Session == nil {
		out.Actor.AppName = "modelguard"
	}
	out.SrcEndpoint = Endpoint{UID: id.Subject, Name: id.Agent, SvcName: id.ModelName}
	if out.SrcEndpoint == (Endpoint{}) {
		out.SrcEndpoint.Name = "modelguard"
	}
}

func message(e *audit.Event) string {
	who := e.Identity.Subject
	if who == "" {
		who = "no identity"
	}
	s := fmt.Sprintf("%s %s %s by %s", e.Phase, e.Decision, e.Tool, who)
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	return s
}

// Export writes every record of the log, in order, as one OCSF event a line,
// and returns how many it wrote. A torn last line (a crash mid-write) is
// skipped; any other line that is not a record fails with [ErrRecord].
func Export(w io.Writer, log *audit.Log, opts Options) (int, error) {
	segs := log.Segments()
	if w == nil {
		return 0, errors.New("ocsf: Export: nil writer")
	}
	if len(segs) == 0 {
		return 0, fmt.Errorf("ocsf: no log: %w", audit.ErrNotReady)
	}
	if opts.LogName == "" {
		opts.LogName = filepath.Base(segs[len(segs)-1])
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for _, path := range segs {
		err := eachRecord(path, func(rec []byte) error {
			ev, err := Convert(rec, opts)
			if err != nil {
				return err
			}
			n++
			return enc.Encode(&ev)
		})
		if err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// eachRecord calls fn with every complete line of the file at path.
func eachRecord(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	var long []byte
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if long = append(long, line...); len(long) > maxRecord {
				return fmt.Errorf("%w: %s: a line over %d bytes", ErrRecord, filepath.Base(path), maxRecord)
			}
			continue
		}
		if err == io.EOF {
			return nil // an unterminated last line is torn: not a record
		}
		if err != nil {
			return err
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if err := fn(bytes.TrimSuffix(line, []byte("\n"))); err != nil {
			return err
		}
	}
}
