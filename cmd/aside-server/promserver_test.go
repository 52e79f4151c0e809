package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

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
