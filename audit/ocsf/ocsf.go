// Package ocsf writes modelguard audit records as Open Cybersecurity Schema
// Framework events: API Activity (class_uid 6003, category Application
// Activity), OCSF 1.8.0, with the ai_operation and security_control profiles.
//
// # Mapping
//
// One audit record is one OCSF event, in log order, one JSON object a line.
// The tool call is the API operation (api.operation is the tool's name,
// api.request.uid the call id); the model identity is the actor (actor.user.uid
// the token subject, actor.app_name the agent, actor.session.uid the
// conversation) and the source endpoint; the policy decision is the security
// control outcome (action_id 1 Allowed / 2 Denied, disposition_id 1 Allowed /
// 2 Blocked, policy.uid the policy version, policy.name the deciding rules);
// the model is ai_model (only when the record names both its provider and its
// name, which the schema requires); the prompt is message_context.uid.
//
// Activity: a tool call is none of the class's CRUD activities (1–4), so
// activity_id is 99 (Other) with activity_name "Tool Call" and type_uid 600399.
//
// # Integrity
//
// raw_data_hash is the SHA-256 of the record exactly as stored; under unmapped
// .modelguard.merkle are the record's Merkle leaf (its index and RFC 6962 leaf
// hash, as golang.org/x/mod/sumdb/tlog computes it) and the checkpoint of the
// log (origin, size, root hash, and whether its signature was verified), with
// covered set when the checkpoint's tree includes the record. An inclusion
// proof for any record is one `modelguard audit prove` away.
package ocsf

import "github.com/modelguard/modelguard/audit"

// Schema constants (OCSF 1.8.0: events/application/api_activity.json,
// categories.json, dictionary.json).
const (
	Version      = "1.8.0"
	ClassUID     = 6003
	CategoryUID  = 6
	ActivityUID  = 99 // Other: a tool call is not Create/Read/Update/Delete
	TypeUID      = ClassUID*100 + ActivityUID
	activityName = "Tool Call"
)

// Options tune [Export]. The zero value exports without checkpoint data.
type Options struct {
	// Checkpoint is the log's checkpoint, for the Merkle integrity data;
	// Verified says whether its signature was checked against a trusted key.
	Checkpoint *audit.Checkpoint
	Verified   bool
	// LogName is metadata.log_name; default the log file's base name.
	LogName string
	// ProductVersion is metadata.product.version.
	ProductVersion string
}

// Event is one OCSF API Activity event. Fields follow the schema's names.
type Event struct {
	ClassUID      int      `json:"class_uid"`
	ClassName     string   `json:"class_name"`
	CategoryUID   int      `json:"category_uid"`
	CategoryName  string   `json:"category_name"`
	ActivityID    int      `json:"activity_id"`
	ActivityName  string   `json:"activity_name"`
	TypeUID       int      `json:"type_uid"`
	TypeName      string   `json:"type_name"`
	Time          int64    `json:"time"`
	SeverityID    int      `json:"severity_id"`
	Severity      string   `json:"severity"`
	StatusID      int      `json:"status_id"`
	Status        string   `json:"status"`
	StatusCode    string   `json:"status_code,omitempty"`
	StatusDetail  string   `json:"status_detail,omitempty"`
	Message       string   `json:"message"`
	Duration      int64    `json:"duration,omitempty"`
	ActionID      int      `json:"action_id"`
	Action        string   `json:"action"`
	DispositionID int      `json:"disposition_id"`
	Disposition   string   `json:"disposition"`
	Metadata      Metadata `json:"metadata"`
	Actor         Actor    `json:"actor"`
	SrcEndpoint   Endpoint `json:"src_endpoint"`
	API           API      `json:"api"`
	Policy        *Policy  `json:"policy,omitempty"`
	AIModel       *AIModel `json:"ai_model,omitempty"`
	// MessageContext carries the prompt id (ai_operation profile).
	MessageContext *MessageContext `json:"message_context,omitempty"`
	RawDataHash    Fingerprint     `json:"raw_data_hash"`
	Unmapped       Unmapped        `json:"unmapped"`
}

// Metadata is the OCSF metadata object.
type Metadata struct {
	Version        string   `json:"version"`
	Product        Product  `json:"product"`
	Profiles       []string `json:"profiles"`
	UID            string   `json:"uid,omitempty"`
	Sequence       uint64   `json:"sequence,omitempty"`
	CorrelationUID string   `json:"correlation_uid,omitempty"`
	LogName        string   `json:"log_name,omitempty"`
	TenantUID      string   `json:"tenant_uid,omitempty"`
}

// Product is the OCSF product object.
type Product struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version,omitempty"`
}

// Actor is the OCSF actor object.
type Actor struct {
	User    *User    `json:"user,omitempty"`
	AppName string   `json:"app_name,omitempty"`
	Session *Session `json:"session,omitempty"`
}

// User is the OCSF user object: the model identity's token subject.
type User struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
	Domain string `json:"domain,omitempty"`
}

// Session is the OCSF session object.
type Session struct {
	UID    string `json:"uid"`
	Issuer string `json:"issuer,omitempty"`
}

// Endpoint is the OCSF network_endpoint object.
type Endpoint struct {
	UID     string `json:"uid,omitempty"`
	Name    string `json:"name,omitempty"`
	SvcName string `json:"svc_name,omitempty"`
}

// API is the OCSF api object.
type API struct {
	Operation string    `json:"operation"`
	Service   Service   `json:"service"`
	Request   *Request  `json:"request,omitempty"`
	Response  *Response `json:"response,omitempty"`
}

// Service is the OCSF service object.
type Service struct {
	Name string `json:"name"`
}

// Request is the OCSF request object.
type Request struct {
	UID string `json:"uid"`
}

// Response is the OCSF response object.
type Response struct {
	Code         int    `json:"code,omitempty"`
	Error        string `json:"error,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	Message      string `json:"message,omitempty"`
}

// Policy is the OCSF policy object.
type Policy struct {
	UID       string `json:"uid,omitempty"`
	Name      string `json:"name,omitempty"`
	IsApplied bool   `json:"is_applied"`
}

// AIModel is the OCSF ai_model object.
type AIModel struct {
	AIProvider string `json:"ai_provider"`
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
}

// MessageContext is the OCSF message_context object.
type MessageContext struct {
	UID     string  `json:"uid"`
	Service Service `json:"service"`
}

// Fingerprint is the OCSF fingerprint object.
type Fingerprint struct {
	AlgorithmID int    `json:"algorithm_id"`
	Algorithm   string `json:"algorithm"`
	Value       string `json:"value"`
}

// Unmapped holds what the schema has no attribute for.
type Unmapped struct {
	Modelguard Record `json:"modelguard"`
}

// Record is the part of the audit record OCSF does not carry.
type Record struct {
	Phase        string          `json:"phase"`
	Rules        []string        `json:"rules,omitempty"`
	Reasons      []string        `json:"reasons,omitempty"`
	Controls     []string        `json:"controls,omitempty"`
	ArgsDigest   string          `json:"args_digest,omitempty"`
	OutputDigest string          `json:"output_digest,omitempty"`
	Grant        *audit.GrantUse `json:"grant,omitempty"`
	Scopes       []string        `json:"scopes,omitempty"`
	Act          []string        `json:"act,omitempty"`
	Merkle       Merkle          `json:"merkle"`
}

// Merkle is a record's place in the log's Merkle tree.
type Merkle struct {
	LeafIndex  uint64      `json:"leaf_index"`
	LeafHash   string      `json:"leaf_hash"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// Checkpoint is the log's checkpoint as the export saw it.
type Checkpoint struct {
	Origin   string `json:"origin"`
	Size     int64  `json:"tree_size"`
	RootHash string `json:"root_hash"`
	Verified bool   `json:"signature_verified"`
	// Covered: the checkpoint's tree includes this record.
	Covered bool `json:"covered"`
}
