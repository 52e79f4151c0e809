package glob

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"user:*", "user:1", true},
		{"user:*", "user:", true},
		{"user:*", "users:1", false},
		{"?", "a", true},
		{"?", "", false},
		{"?", "ab", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[^abc]", "d", true},
		{"[^abc]", "a", false},
		{"[a-c]x", "bx", true},
		{"[c-a]x", "bx", true},
		{"[a\\]]", "]", true},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a\\", "a\\", true}, // a trailing backslash is a literal, as in Redis
		{"**a", "ba", true},
		{"a*", "a", true},
		{"[", "[", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.key); got != tt.want {
			t.Errorf("Match(%q, %q) = %v; want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []string{"*", "user:*", "[abc]", "[^a-z]*", "\\[", "a\\\\", "[\\]]"} {
		if err := Validate(p); err != nil {
			t.Errorf("Validate(%q) = %v; want nil", p, err)
		}
	}
	for _, p := range []string{"", "[abc", "abc\\", "[\\]", strings.Repeat("a", MaxLen+1)} {
		if err := Validate(p); err == nil {
			t.Errorf("Validate(%.30q) = nil; want an error", p)
		}
	}
}

func TestQuoteAndLiteralPrefix(t *testing.T) {
	for _, s := range []string{"aside:", "app[1]*:", "a?b\\c", ""} {
		q := Quote(s)
		if !Match(q, s) {
			t.Errorf("Match(Quote(%q)=%q, %q) = false", s, q, s)
		}
		if s != "" && Match(q, s+"x") {
			t.Errorf("Quote(%q) = %q also matches %q", s, q, s+"x")
		}
		if got := LiteralPrefix(q + "*"); got != s {
			t.Errorf("LiteralPrefix(%q) = %q; want %q", q+"*", got, s)
		}
	}
	if got := LiteralPrefix("job:result:*"); got != "job:result:" {
		t.Errorf("LiteralPrefix(job:result:*) = %q", got)
	}
}

// FuzzMatch checks that matching never panics, that a quoted key matches
// itself, and that * and ? agree with their definitions.
func FuzzMatch(f *testing.F) {
	for _, s := range [][2]string{{"*", "a"}, {"[a-", "b"}, {"[^", ""}, {"\\", "\\"}, {"a*b?[c-d]\\e", "axxbyce"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, key string) {
		Match(pattern, key)
		_ = Validate(pattern)
		if !Match(Quote(key), key) {
			t.Fatalf("Quote(%q) does not match itself", key)
		}
		if !Match("*", key) {
			t.Fatalf("* does not match %q", key)
		}
		if Match(strings.Repeat("?", len(key)), key) != true {
			t.Fatalf("%d ?s do not match %q", len(key), key)
		}
	})
}
