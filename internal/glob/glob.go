// Package glob matches keys against Redis glob patterns, byte for byte as
// Redis's stringmatchlen does, so that a pattern deletes the same keys from
// an in-process store as SCAN MATCH finds in Redis.
//
// The syntax: * matches any run of bytes, ? one byte, [abc] one byte of the
// set, [^abc] one byte outside it, [a-z] a range, and \x the byte x itself.
package glob

import (
	"errors"
	"fmt"
)

// MaxLen bounds the length of a pattern. Redis itself refuses to recurse
// deeper than 1000 stars; a bound on the length keeps matching cheap.
const MaxLen = 1024

// ErrEmpty is returned by Validate for an empty pattern.
var ErrEmpty = errors.New("glob: empty pattern")

// Validate reports whether pattern is well formed: not empty, at most MaxLen
// bytes, every [ closed by ], and no \ left without a byte to escape.
// Redis accepts malformed patterns and reads them in surprising ways; we
// refuse them so that what a pattern deletes is never a surprise.
func Validate(pattern string) error {
	if pattern == "" {
		return ErrEmpty
	}
	if len(pattern) > MaxLen {
		return fmt.Errorf("glob: pattern is %d bytes, more than the limit of %d", len(pattern), MaxLen)
	}
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i+1 == len(pattern) {
				return fmt.Errorf("glob: pattern %q ends in a lone backslash", pattern)
			}
			i++
		case '[':
			end, ok := classEnd(pattern, i+1)
			if !ok {
				return fmt.Errorf("glob: pattern %q has a [ without a closing ]", pattern)
			}
			i = end
		}
	}
	return nil
}

// classEnd returns the index of the ] that closes the class whose body
// starts at i, honouring escapes inside it.
func classEnd(pattern string, i int) (int, bool) {
	if i < len(pattern) && pattern[i] == '^' {
		i++
	}
	for ; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			i++
		case ']':
			return i, true
		}
	}
	return 0, false
}

// Quote escapes every byte of s that a pattern would read as syntax, so that
// Quote(s) matches s and nothing else.
func Quote(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if isMeta(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+n)
	for i := 0; i < len(s); i++ {
		if isMeta(s[i]) {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isMeta(c byte) bool {
	return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\'
}

// LiteralPrefix returns the bytes every match of pattern starts with: the
// pattern up to its first wildcard, with escapes resolved.
func LiteralPrefix(pattern string) string {
	b := make([]byte, 0, len(pattern))
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*', '?', '[':
			return string(b)
		case '\\':
			if i+1 < len(pattern) {
				i++
			}
			b = append(b, pattern[i])
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// Match reports whether key matches pattern, with the semantics of Redis's
// stringmatchlen (case sensitive). Malformed patterns are matched as Redis
// would match them; call Validate first to refuse them.
func Match(pattern, key string) bool {
	if pattern == "*" {
		return true // SCAN's own shortcut: "*" matches even the empty key
	}
	skipLonger := false
	return match(pattern, key, &skipLonger, 0)
}

// match is a port of stringmatchlen_impl from Redis's util.c. skipLonger
// carries Redis's early exit: once the rest of a pattern after a star
// matched nowhere in the rest of the key, no earlier star can help.
func match(p, s string, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if match(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			var ok bool
			if p, ok = matchClass(p[1:], s[0]); !ok {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// matchClass matches c against the class whose body starts p (just after
// the [). It returns the pattern positioned on the closing ] (or on the last
// byte of an unclosed class, as Redis does) and whether c matched.
func matchClass(p string, c byte) (string, bool) {
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	matched := false
	for {
		switch {
		case len(p) >= 2 && p[0] == '\\':
			p = p[1:]
			if p[0] == c {
				matched = true
			}
		case len(p) == 0:
			// Unclosed class: Redis steps back one byte so that the caller's
			// advance ends the pattern. We return a one-byte remainder.
			return " ", matched != not
		case p[0] == ']':
			return p, matched != not
		case len(p) >= 3 && p[1] == '-':
			// Redis compares signed chars: bytes above 0x7f sort below 'a'.
			start, end, v := int8(p[0]), int8(p[2]), int8(c)
			if start > end {
				start, end = end, start
			}
			if v >= start && v <= end {
				matched = true
			}
			p = p[2:]
		default:
			if p[0] == c {
				matched = true
			}
		}
		p = p[1:]
	}
}
