package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestChaosScenario runs `aside chaos -check` on a small scale: two
// servers on PostgreSQL and one Redis under reads and writes, through a
// pause, an empty restart, a restart from a snapshot that predates
// invalidated writes, a failover to a replica that missed writes, and a
// server killed -9 while it holds leases. The targets: no failed request,
// no stale read begun over a second after Redis was back, no read over
// 2 s on a dead lease holder.
func TestChaosScenario(t *testing.T) {
	record := filepath.Join(t.TempDir(), "chaos.json")
	stdout, stderr, err := cli(t, "chaos", "-server", buildServer(t), "-phase", "2s", "-users", "100", "-readers", "8", "-writers", "2",
		"-check", "-json", record)
	if err != nil {
		t.Fatalf("aside chaos: %v\n%s\n%s", err, stdout, stderr)
	}
	var phases []phaseResult
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &phases); err != nil {
		t.Fatal(err)
	}
	if len(phases) != len(chaosPhases) {
		t.Fatalf("%d phases reported; want %d:\n%s", len(phases), len(chaosPhases), stdout)
	}
	for _, p := range phases {
		if p.Requests < 100 {
			t.Errorf("phase %q made %d requests; want a load of at least 100", p.Name, p.Requests)
		}
	}
	t.Logf("\n%s", stdout)
}
