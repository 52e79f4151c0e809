package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestReadmeWalkthrough runs the README's curl walk-through, as written,
// against a fresh server with demo data: every command must succeed.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds the demo data")
	}
	for _, tool := range []string{"bash", "curl", "sed", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s missing: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- walkthrough")
	if !ok {
		t.Fatal("README.md has no walkthrough marker")
	}
	_, block, _ := strings.Cut(after, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	if strings.Count(block, "curl") < 10 {
		t.Fatalf("the walkthrough block looks wrong:\n%s", block)
	}

	s := start(t, env{"ASIDE_SEED": "auto", "ASIDE_AUTH": "on", "ASIDE_ADMIN_TOKEN": "s3cret-admin-token"})
	script := strings.ReplaceAll(block, "localhost:8080", strings.TrimPrefix(s.base, "http://"))
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README walkthrough failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"name":"Ada Lovelace"`, `"status":"completed"`, `"rowsOut":3`, "403\n", `"hitRateFormatted"`, `"success":true`, `aside_cache_hits_total{namespace="users"}`, `"status":"ready"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walkthrough's output lacks %s:\n%s", want, out)
		}
	}
}
