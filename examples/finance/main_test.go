package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

func TestFinance(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// The steps, in order.
	re := regexp.MustCompile(`(?s)` +
		`09:00 model  invoices.summarize .*?ALLOW \{"customer":"ACME GmbH","invoices":3` +
		`.*?09:00 model  payments.initiate \{"invoice":"INV-7".*?DENY  .*?\(approval_required\): this call needs human approval; request apr-1 is pending` +
		`.*?09:00 human  bob@finance.example approves apr-1: model:finance-1 payments.initiate \{"invoice":"INV-7".*?valid 15m0s` +
		`.*?09:00 model  payments.initiate \{"invoice":"INV-7".*?ALLOW \{"payment":"PAY-1","status":"submitted"\}` +
		`.*?09:00 model  payments.initiate \{"invoice":"INV-7".*?DENY  .*?request apr-2 is pending` +
		`.*?09:00 model  payments.initiate \{"invoice":"INV-8".*?DENY  .*?request apr-3 is pending` +
		`.*?09:00 human  bob@finance.example denies apr-2: apr-1 was approved and paid already` +
		`.*?09:00 human  bob@finance.example approves apr-3` +
		`.*?09:20 \(the model comes back 20m0s later\)` +
		`.*?09:20 model  payments.initiate \{"invoice":"INV-8".*?DENY  .*?\(approval_required\)` +
		`.*?09:20 model  payments.initiate \{"invoice":"INV-9".*?DENY  .*?\(no_permit\)` +
		`.*?ledger  1 payment\(s\) made`)
	if !re.MatchString(got) {
		t.Errorf("the approval flow differs:\n%s", got)
	}
	f, err := os.Open(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var payments []audit.Event
	err = audit.ReadLog(f, func(e audit.Event) error {
		if e.Tool == "payments.initiate" && e.Phase == audit.PhaseDecision {
			payments = append(payments, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var allowed int
	for _, e := range payments {
		if e.Decision != audit.Allow {
			continue
		}
		allowed++
		if e.Grant == nil || e.Grant.Approver != "bob@finance.example" || e.Grant.Request != "apr-1" {
			t.Errorf("allowed payment without its approver on record: %+v", e.Grant)
		}
	}
	if len(payments) != 6 || allowed != 1 {
		t.Errorf("log has %d payment decisions, %d allowed; want 6, 1", len(payments), allowed)
	}
}
