package redistest

import (
	"strings"
	"testing"
)

func TestStartPauseRestart(t *testing.T) {
	s := Start(t)
	if _, err := Do(s.Addr, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := Do(s.Addr, "GET", "k"); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v; want v", got, err)
	}
	if err := s.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := s.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := s.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	// A restarted server is empty: nothing is kept on disk.
	if got, err := Do(s.Addr, "EXISTS", "k"); err != nil || got != "0" {
		t.Fatalf("EXISTS k after restart = %q, %v; want 0", got, err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if _, err := Do(s.Addr, "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	info, err := Do(c.Nodes[1].Addr, "CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") {
		t.Fatalf("CLUSTER INFO = %q, %v; want all slots assigned", info, err)
	}
}

func TestProxyCutsAndRestores(t *testing.T) {
	s := Start(t)
	p := NewProxy(t, s.Addr)
	if got, err := Do(p.Addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING through the proxy = %q, %v", got, err)
	}
	p.Cut()
	if _, err := Do(p.Addr, "PING"); err == nil {
		t.Fatal("PING answered through a cut proxy")
	}
	if got, err := Do(s.Addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING of the server itself while the proxy is cut = %q, %v", got, err)
	}
	p.Restore()
	if got, err := Do(p.Addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING through the restored proxy = %q, %v", got, err)
	}
}
