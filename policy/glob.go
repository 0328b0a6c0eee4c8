package policy

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Tool-name globs. Tool names are not paths: "fs/delete", "a.b/c" and "mcp:x"
// are single names, and a pattern covers them as it covers any other. The
// language is small on purpose:
//
//	*      any run of characters, including none, including '/', '.' and ':'
//	?      exactly one character (a UTF-8 code point)
//	\c     the character c itself (\*, \?, \\)
//	other  itself
//
// So "*" covers every tool, "tickets.*" covers "tickets.get" and
// "tickets.a/b", and "fs/*" covers "fs/delete". There are no character
// classes: '[' and ']' are ordinary characters. A pattern is invalid if it is
// empty, ends in a lone '\', or is not valid UTF-8.

// ErrPattern is wrapped by the errors of [ValidPattern].
var ErrPattern = errors.New("bad tool pattern")

// ValidPattern reports whether pat is a valid tool-name glob.
func ValidPattern(pat string) error {
	switch {
	case pat == "":
		return fmt.Errorf("policy: empty pattern: %w", ErrPattern)
	case !utf8.ValidString(pat):
		return fmt.Errorf("policy: pattern %q is not valid UTF-8: %w", pat, ErrPattern)
	}
	for i := 0; i < len(pat); i++ {
		if pat[i] == '\\' {
			if i == len(pat)-1 {
				return fmt.Errorf("policy: pattern %q ends in a lone '\\': %w", pat, ErrPattern)
			}
			i++
		}
	}
	return nil
}

// MatchTool reports whether the tool-name glob pat covers name. An invalid
// pattern covers nothing.
func MatchTool(pat, name string) bool {
	if ValidPattern(pat) != nil || !utf8.ValidString(name) {
		return false
	}
	return match(pat, name)
}

// match is an iterative wildcard matcher: on a mismatch it backtracks to the
// last '*' and lets it take one more character, so it runs in
// O(len(pat)·len(name)) whatever the input.
func match(pat, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		if p < len(pat) {
			switch c := pat[p]; c {
			case '*':
				star, mark = p, n
				p++
				continue
			case '?':
				_, size := utf8.DecodeRuneInString(name[n:])
				p, n = p+1, n+size
				continue
			case '\\':
				if name[n] == pat[p+1] {
					p, n = p+2, n+1
					continue
				}
			default:
				if c == name[n] {
					p, n = p+1, n+1
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		_, size := utf8.DecodeRuneInString(name[mark:])
		mark += size
		p, n = star+1, mark
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
