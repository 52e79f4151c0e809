package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricNames returns the metric names a PromQL expression selects: what
// is left of its identifiers once label matchers, ranges, grouping
// clauses, functions and keywords are taken out.
func metricNames(expr string) []string {
	for _, skip := range []*regexp.Regexp{
		regexp.MustCompile(`"(\\.|[^"\\])*"`), // strings
		regexp.MustCompile(`\{[^}]*\}`),       // label matchers
		regexp.MustCompile(`\[[^\]]*\]`),      // ranges
		regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`),
		regexp.MustCompile(`\b[a-zA-Z_]\w*\s*\(`), // functions and aggregations
		regexp.MustCompile(`\b(and|or|unless|bool|offset|inf|nan)\b`),
		regexp.MustCompile(`\b\d+(\.\d+)?([eE][-+]?\d+)?(ms|[smhdwy])?\b`), // numbers and durations
	} {
		expr = skip.ReplaceAllString(expr, " ")
	}
	var names []string
	for _, name := range regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`).FindAllString(expr, -1) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// withBool makes every comparison of expr a bool comparison, so that the
// expression returns its series whatever their values: an alert's
// expression then shows whether what it compares exists, label sets of
// its and-ed sides included.
func withBool(expr string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quoted && c == '\\' && i+1 < len(expr):
			b.WriteByte(c)
			i++
			c = expr[i]
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '{':
			depth++
		case c == '}':
			depth--
		case depth == 0 && (c == '<' || c == '>' || ((c == '=' || c == '!') && i+1 < len(expr) && expr[i+1] == '=')):
			op := string(c)
			if i+1 < len(expr) && expr[i+1] == '=' {
				op += "="
				i++
			}
			b.WriteString(op + " bool")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func TestWithBool(t *testing.T) {
	for in, want := range map[string]string{
		`a < 0.6 and b > 0.1`:          `a < bool 0.6 and b > bool 0.1`,
		`x{state="open"} == 1`:         `x{state="open"} == bool 1`,
		`x{a!="b",c=~"d>"} >= 2`:       `x{a!="b",c=~"d>"} >= bool 2`,
		`increase(x[15m]) > 3`:         `increase(x[15m]) > bool 3`,
		`y != 0`:                       `y != bool 0`,
		`histogram_quantile(0.99, z)`:  `histogram_quantile(0.99, z)`,
		`a{b="\"}" } <= 1`:             `a{b="\"}" } <= bool 1`,
		`sum without (instance) (a)/b`: `sum without (instance) (a)/b`,
	} {
		if got := withBool(in); got != want {
			t.Errorf("withBool(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestMetricNames(t *testing.T) {
	for in, want := range map[string][]string{
		`sum by (namespace) (rate(aside_cache_hits_total{job=~".*",namespace=~"a"}[1m])) / aside:cache_reads:rate5m`: {"aside_cache_hits_total", "aside:cache_reads:rate5m"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket{le!="+Inf"}[5m]))) > bool 1e-3`:                         {"x_bucket"},
		`max by (instance) (up{job="aside"}) and on (instance) nothing_here offset 5m`:                               {"up", "nothing_here"},
	} {
		if got := metricNames(in); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q; want %q", in, got, want)
		}
	}
}
