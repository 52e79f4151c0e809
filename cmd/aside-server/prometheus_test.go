package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aside-cache/aside/internal/redistest"
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

// prometheus is a Prometheus server the test started, on a free port.
type prometheus struct {
	t    *testing.T
	base string
}

// startPrometheus runs Debian's prometheus scraping target every second,
// evaluating rules every second, with its storage in a temporary
// directory; it is stopped (and only it) when the test ends.
func startPrometheus(t *testing.T, target, rules string) *prometheus {
	t.Helper()
	bin := needTool(t, "prometheus")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: aside
    static_configs: [{targets: ['%s']}]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logs := &logBuffer{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	p := &prometheus{t: t, base: "http://" + addr}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready within 20 s:\n%s", logs)
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// query runs an instant query and returns its series' labels; a query
// Prometheus refuses fails the test.
func (p *prometheus) query(q string) []map[string]string {
	p.t.Helper()
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status, Error string
		Data          struct {
			Result []struct{ Metric map[string]string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != "success" {
		p.t.Fatalf("query %q: %s %v %s", q, resp.Status, err, out.Error)
	}
	series := make([]map[string]string, len(out.Data.Result))
	for i, r := range out.Data.Result {
		series[i] = r.Metric
	}
	return series
}

// eventually polls a query until it returns series, for up to 20 s.
func (p *prometheus) eventually(q string) []map[string]string {
	p.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if series := p.query(q); len(series) > 0 {
			return series
		}
	}
	return nil
}

// alerts returns the alerts in a state, as "name/namespace".
func (p *prometheus) alerts(state string) []string {
	p.t.Helper()
	resp, err := http.Get(p.base + "/api/v1/alerts")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		p.t.Fatal(err)
	}
	var names []string
	for _, a := range out.Data.Alerts {
		if a.State == state {
			names = append(names, a.Labels["alertname"]+"/"+a.Labels["namespace"])
		}
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
