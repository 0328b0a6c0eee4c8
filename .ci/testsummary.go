//go:build ignore

// testsummary reads `go test -json` on stdin and prints what a plain `go test`
// prints (package results, the output of failed tests, build errors), then the
// skipped tests with their reasons and one closing line:
//
//	tests: N passed, N failed, N skipped
//
// so that a run whose service-backed tests all skipped says so instead of
// printing only "ok".
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Output      string
	FailedBuild string
}

func main() {
	var passed, failed, skipped int
	buf := map[string][]string{} // output of a running test, printed only if it fails
	var skips []string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Println(sc.Text()) // not an event: pass it through
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Print(e.Output)
		case e.Test == "":
			if e.Action == "output" {
				fmt.Print(e.Output)
			}
		case e.Action == "output":
			buf[key] = append(buf[key], e.Output)
		case e.Action == "pass":
			passed++
			delete(buf, key)
		case e.Action == "fail":
			failed++
			fmt.Print(strings.Join(buf[key], ""))
			delete(buf, key)
		case e.Action == "skip":
			skipped++
			skips = append(skips, fmt.Sprintf("  %s %s: %s", e.Package, e.Test, reason(buf[key])))
			delete(buf, key)
		}
	}
	if len(skips) > 0 {
		sort.Strings(skips)
		fmt.Printf("\nskipped tests (%d) and how to enable them:\n%s\n", len(skips), strings.Join(skips, "\n"))
	}
	fmt.Printf("\ntests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
}

// reason is the last line a skipped test logged (its t.Skip message).
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "=== ") && !strings.HasPrefix(l, "--- SKIP") {
			return l
		}
	}
	return "(no reason given)"
}
