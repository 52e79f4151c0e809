package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawStatus sends head (a request line and headers, without the blank
// line that ends them) on a connection of its own and returns the status
// line of the answer. The request is written beside the read, so that a
// server that answers before reading it all is heard.
func (s *server) rawStatus(head string) string {
	s.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	go io.WriteString(conn, head+"\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		s.t.Fatalf("reading the answer to a request of %d bytes: %v", len(head), err)
	}
	return strings.TrimSpace(status)
}

// The server reads at most maxHeaderBytes of request line and headers: a
// header of 1 MiB, which the default limit (1 MiB and 4 KiB) let through,
// is refused with 431, as is a path of 600 KB; a header of 32 KiB passes.
func TestOversizeHeadersAreRefused(t *testing.T) {
	s := start(t, env{})
	big := strings.Repeat("a", 1<<20)
	for name, head := range map[string]string{
		"a 1 MiB header": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big,
		"a 600 KB path":  "GET /trpc/" + strings.TrimSuffix(strings.Repeat("x,", 300_000), ",") + "?batch=1 HTTP/1.1\r\nHost: x",
	} {
		if status := s.rawStatus(head); !strings.HasPrefix(status, "HTTP/1.1 431 ") {
			t.Errorf("%s: answered %q; want 431", name, status)
		}
	}
	req, _ := http.NewRequest("GET", s.base+"/healthz", nil)
	req.Header.Set("X-Fine", strings.Repeat("a", 32<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a 32 KiB header: %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
}

// Through the server, a tRPC batch over the cap is refused whole with one
// small answer.
func TestATrpcBatchOverTheCapIsRefused(t *testing.T) {
	s := start(t, env{})
	names := strings.TrimSuffix(strings.Repeat("monitoring.cacheStats,", 17), ",")
	status, body := s.call("GET", "/trpc/"+names+"?batch=1", nil)
	if status != 400 || len(body) > 1<<10 || !strings.Contains(string(body), "BAD_REQUEST") {
		t.Errorf("a batch of 17 = %d %s; want one 400 BAD_REQUEST", status, body)
	}
	for _, n := range []int{1, 16} {
		names := strings.TrimSuffix(strings.Repeat("monitoring.cacheStats,", n), ",")
		if status, body := s.call("GET", "/trpc/"+names+"?batch=1", nil); status != 200 {
			t.Errorf("a batch of %d = %d %s; want 200", n, status, body)
		}
	}
}
