package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelguard/modelguard/policy/access"
)

const reportAbout = `Report writes a compliance report of the audit log -audit under the policy in
FILE...: one self-contained HTML file (no script, no network, no external
asset; charts are inline SVG) and the same data as JSON beside it (-o with
.json for .html). It shows decisions over time per agent, denials by reason,
the tools denied most, who approved what, entitlement usage (tools permitted
and never called, rules that never matched), the identities seen, and a table
mapping every control tag of the rules and decisions to OWASP Agentic Top 10
2026 (ASI01-ASI10), OWASP NHI Top 10 and NIST CSF 2.0 items and to the
decisions it governed. The mapping is the built-in one extended by each
-mapping file (same YAML shape as 'access report -print-mapping' prints); an
entry for a tag replaces the built-in one. Everything from the log is escaped.`

func runAccessReport(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard access report", "-audit LOG [-mapping FILE]... [-o report.html] [-since TIME] [-until TIME] FILE...", reportAbout)
	var w windowFlags
	w.register(fset)
	logPath := fset.String("audit", "", "the audit `log`")
	var mappings listFlag
	fset.Var(&mappings, "mapping", "extend the control mapping with this YAML `file` (repeatable)")
	out := fset.String("o", "modelguard-access-report.html", "the HTML `file` to write (the JSON goes beside it)")
	title := fset.String("title", "", "the report's `title`")
	printMapping := fset.Bool("print-mapping", false, "print the built-in control mapping and exit")
	var tools toolsFlag
	fset.Var(&tools, "tool", "also consider the tool `name[=label,...]` (repeatable)")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *printMapping {
		return printMappingYAML(stdout)
	}
	if *logPath == "" {
		return usageError(fset, stderr, "-audit is required")
	}
	m, err := loadMapping(mappings)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	set, code, ok := loadPolicy(fset, files, stderr)
	if !ok {
		return code
	}
	u, code, ok := w.usage(fset, *logPath, stderr)
	if !ok {
		return code
	}
	r, err := access.BuildReport(context.Background(), set, u, access.ReportOptions{Title: *title, Log: filepath.Base(*logPath),
		Now: time.Now(), Mapping: m, Tools: tools})
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	jsonPath := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".json"
	if err := writeReport(r, *out, jsonPath); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	fmt.Fprintf(stdout, "report: %s\ndata:   %s\n", *out, jsonPath)
	return exitOK
}

func loadMapping(files []string) (*access.Mapping, error) {
	m := access.DefaultMapping()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		more, err := access.ParseMapping(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		m = m.Extend(more)
	}
	return m, nil
}

func writeReport(r *access.Report, htmlPath, jsonPath string) error {
	var h bytes.Buffer
	if err := r.WriteHTML(&h); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(htmlPath, h.Bytes(), 0o644); err != nil {
		return err
	}
	return os.WriteFile(jsonPath, append(j, '\n'), 0o644)
}

func printMappingYAML(w io.Writer) int {
	fmt.Fprint(w, access.DefaultMappingYAML())
	return exitOK
}
