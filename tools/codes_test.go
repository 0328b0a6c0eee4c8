package tools_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/tools"
)

// TestCodeTable: every code has one row whose sentinel a denial of that code
// matches, a status an HTTP edge can send, and a JSON-RPC answer; distinct
// codes share a sentinel only where one concept has two reasons (forbidden,
// no_permit).
func TestCodeTable(t *testing.T) {
	seen := map[error]tools.Code{}
	for _, c := range tools.Codes() {
		if !c.Known() || c.Err() == nil {
			t.Fatalf("%s: no sentinel", c)
		}
		if s := c.HTTPStatus(); s < 400 || s > 599 {
			t.Errorf("%s: HTTP status %d", c, s)
		}
		if j := c.JSONRPCCode(); j != 0 && j != tools.JSONRPCInvalidParams {
			t.Errorf("%s: JSON-RPC code %d", c, j)
		}
		if prev, ok := seen[c.Err()]; ok && !(prev == tools.CodeForbidden && c == tools.CodeNoPermit) &&
			!(prev == tools.CodeNoPermit && c == tools.CodeForbidden) {
			t.Errorf("%s and %s share sentinel %v", prev, c, c.Err())
		}
		seen[c.Err()] = c
		if !strings.HasPrefix(c.Err().Error(), "tools: ") {
			t.Errorf("%s: sentinel %q lacks the package prefix", c, c.Err())
		}
	}
	if len(tools.Codes()) < 15 {
		t.Fatalf("only %d codes", len(tools.Codes()))
	}
	unknown := tools.Code("made_up")
	if unknown.Known() || unknown.Err() != tools.ErrForbidden || unknown.HTTPStatus() != 403 {
		t.Errorf("unknown code answered as %v %d, want forbidden", unknown.Err(), unknown.HTTPStatus())
	}
	if tools.CodeUnknownTool.JSONRPCCode() != -32602 || tools.CodeNoPermit.JSONRPCCode() != 0 {
		t.Error("MCP answers: unknown tool must be -32602, a policy denial a tool result")
	}
	if tools.CodeOf(nil) != "" || tools.CodeOf(errors.New("x")) != "" || tools.CodeOf((*tools.DeniedError)(nil)) != "" {
		t.Error("CodeOf of a non-denial is not empty")
	}
}

// TestOneDenialConstructor: no file of package tools builds a DeniedError
// literal but the constructor in codes.go, so no site can pair a code with
// the wrong sentinel.
func TestOneDenialConstructor(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "codes.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok {
				if id, ok := cl.Type.(*ast.Ident); ok && id.Name == "DeniedError" {
					t.Errorf("%s: DeniedError literal; use newDenial", fset.Position(cl.Pos()))
				}
			}
			return true
		})
	}
}
