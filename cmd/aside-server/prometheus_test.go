package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside/redistest"
)

// The operator's files under deploy/: Prometheus's rules, their unit
// tests, Grafana's dashboard.
var (
	rulesFile     = filepath.Join("..", "..", "deploy", "prometheus", "aside.rules.yml")
	rulesTestFile = filepath.Join("..", "..", "deploy", "prometheus", "aside.rules.test.yml")
	grafanaFile   = filepath.Join("..", "..", "deploy", "grafana", "aside.json")
)

// needTool returns the path of a binary of Debian's prometheus package, or
// skips (fails with CI set): make test installs it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing and CI is set (make test installs Debian's prometheus): %v", name, err)
		}
		t.Skipf("%s missing (make test installs Debian's prometheus): %v", name, err)
	}
	return path
}

// promtool runs promtool with args and fails the test with its output if
// it fails.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(needTool(t, "promtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The rules are valid, and their unit tests pass: each alert fires on
// what it is for and stays quiet on its look-alike.
func TestPrometheusRulesPassPromtool(t *testing.T) {
	if out := promtool(t, "check", "rules", rulesFile); !strings.Contains(out, "SUCCESS: 16 rules found") {
		t.Errorf("promtool check rules: %s; want 16 rules", out)
	}
	if out := promtool(t, "test", "rules", rulesTestFile); !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules: %s", out)
	}
}

// rule is a recording or alerting rule of the rules file.
type rule struct{ record, alert, expr string }

// readRules reads the rules file's rules. promtool has checked the file:
// this reads the few shapes it uses (record:, alert:, one-line expr:).
func readRules(t *testing.T) []rule {
	t.Helper()
	f, err := os.Open(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []rule
	field := regexp.MustCompile(`^\s*-?\s*(record|alert|expr): (.+)$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := field.FindStringSubmatch(sc.Text())
		switch {
		case m == nil:
		case m[1] == "record":
			rules = append(rules, rule{record: m[2]})
		case m[1] == "alert":
			rules = append(rules, rule{alert: m[2]})
		case len(rules) > 0:
			rules[len(rules)-1].expr = m[2]
		}
	}
	if len(rules) != 16 {
		t.Fatalf("read %d rules from %s; want 16", len(rules), rulesFile)
	}
	for _, r := range rules {
		if r.expr == "" || strings.HasPrefix(r.expr, "|") {
			t.Fatalf("rule %+v: want a one-line expr", r)
		}
	}
	return rules
}

// grafanaQueries returns every PromQL query of the Grafana dashboard: the
// panels' targets and the selectors of the template variables'
// label_values, with the dashboard's variables replaced as Grafana does
// with "All" selected.
func grafanaQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type, Definition string
			}
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", grafanaFile, err)
	}
	var queries []string
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			queries = append(queries, target.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+), \w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Fatalf("template variable query %q: want label_values(<selector>, <label>)", v.Definition)
		}
		queries = append(queries, m[1])
	}
	if len(queries) < 25 {
		t.Fatalf("%d queries in the dashboard; want its 29 targets and 3 variables", len(queries))
	}
	vars := strings.NewReplacer(`$__rate_interval`, "1m", `$job`, ".*", `$instance`, ".*", `$namespace`, ".*")
	for i, q := range queries {
		queries[i] = vars.Replace(q)
		if strings.Contains(queries[i], "$") {
			t.Errorf("query %q has a variable the test does not know", q)
		}
	}
	return queries
}

// Every query of the Grafana dashboard parses (promtool checks each as a
// recording rule) and names only metrics that aside-server exports, with
// Redis and the near cache, whose metrics all appear then.
func TestGrafanaQueriesParseAndNameExportedMetrics(t *testing.T) {
	queries := grafanaQueries(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: grafana\n    rules:\n")
	for i, q := range queries {
		quoted, _ := json.Marshal(q) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: grafana:query_%d\n        expr: %s\n", i, quoted)
	}
	file := filepath.Join(t.TempDir(), "grafana.rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := promtool(t, "check", "rules", file); !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(queries))) {
		t.Errorf("promtool check rules of the dashboard's queries: %s", out)
	}

	s := start(t, env{"REDIS_URL": redistest.Start(t).URL()})
	exported := exportedMetrics(t, s.base)
	for _, name := range []string{"aside_near_serving", "aside_cache_hits_total", "aside_cache_load_duration_seconds_bucket"} {
		if !exported[name] {
			t.Fatalf("/metrics lacks %s: the near cache or a namespace is missing", name)
		}
	}
	for _, q := range queries {
		names := metricNames(q)
		if len(names) == 0 {
			t.Errorf("query %q names no metric", q)
		}
		for _, name := range names {
			if !exported[name] {
				t.Errorf("query %q names %s, which aside-server does not export", q, name)
			}
		}
	}
}

// exportedMetrics reads the names of the series a server's /metrics holds.
func exportedMetrics(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		names[line[:strings.IndexAny(line, "{ ")]] = true
	}
	return names
}

// A real Prometheus scrapes aside-server (Redis, the near cache on): every
// recording rule records series, every alert's expression (its
// comparisons made bool) and every Grafana query returns series, and
// reading users that are all misses fires AsideCacheHitRateLow for the
// users namespace (the rules' for: cut to 2 s).
func TestRulesAndDashboardOnARealPrometheus(t *testing.T) {
	rules, queries := readRules(t), grafanaQueries(t)
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s+for:) \d+m$`).ReplaceAllString(string(raw), "$1 2s")
	if strings.Count(fast, "for: 2s") != 7 {
		t.Fatalf("cut %d for: clauses; want the 7 of the rules", strings.Count(fast, "for: 2s"))
	}
	s := start(t, env{"REDIS_URL": redistest.Start(t).URL()})
	p := startPrometheus(t, strings.TrimPrefix(s.base, "http://"), fast)
	if up := p.eventually(`up{job="aside"} == 1`); len(up) != 1 {
		t.Fatalf("prometheus never scraped aside-server")
	}
	if firing := p.alerts("firing"); slices.Contains(firing, "AsideCacheHitRateLow/users") {
		t.Fatalf("AsideCacheHitRateLow fires before any read: %v", firing)
	}
	for _, r := range rules {
		q := r.record
		if r.alert != "" {
			q = withBool(r.expr)
		}
		if series := p.eventually(q); len(series) == 0 {
			t.Errorf("rule %s%s: %q returns no series", r.record, r.alert, q)
		}
	}
	for _, q := range queries {
		if series := p.eventually(q); len(series) == 0 {
			t.Errorf("Grafana query %q returns no series", q)
		}
	}

	// Users that do not exist: every read a miss (then a negative entry),
	// 4 a second for 3 s.
	for i := range 12 {
		for j := range 5 {
			s.call("GET", fmt.Sprintf("/api/users/%d", 1000+i*5+j), nil)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		firing := p.alerts("firing")
		if slices.Contains(firing, "AsideCacheHitRateLow/users") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AsideCacheHitRateLow never fired for users; firing %v, pending %v, hit ratio %v",
				firing, p.alerts("pending"), p.query(`aside:cache_hit_ratio:rate5m{namespace="users"}`))
		}
	}
}
