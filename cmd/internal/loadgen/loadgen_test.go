package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestClosedLoop(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method]++
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/13") {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	r, err := Run(context.Background(), Config{
		BaseURL: srv.URL, Path: "/api/users/{id}", Keys: 20, WriteShare: 0.2,
		Concurrency: 4, Duration: 300 * time.Millisecond, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if r.Requests < 50 || int64(seen["GET"]+seen["PATCH"]) < r.Requests {
		t.Errorf("requests = %d, server saw %v", r.Requests, seen)
	}
	if share := float64(r.Writes) / float64(r.Requests); share < 0.1 || share > 0.3 {
		t.Errorf("write share = %.2f; want about 0.2", share)
	}
	if r.Errors == 0 || !strings.Contains(r.FirstError, "500") {
		t.Errorf("errors = %d (%q); want the 500s of key 13 counted", r.Errors, r.FirstError)
	}
	if r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.Throughput <= 0 {
		t.Errorf("latency p50 %v p99 %v max %v, throughput %v", r.P50, r.P99, r.Max, r.Throughput)
	}
}

// At a fixed rate the generator sends about rate x duration requests, and
// a server that stalls is charged for the requests it held up.
func TestFixedRate(t *testing.T) {
	var stall sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stall.Do(func() { time.Sleep(200 * time.Millisecond) })
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	r, err := Run(context.Background(), Config{
		BaseURL: srv.URL, Path: "/x/{id}", Keys: 5, Zipf: true,
		Concurrency: 1, Rate: 200, Duration: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 150 || r.Requests > 210 {
		t.Errorf("requests at 200/s for 1 s = %d", r.Requests)
	}
	// One worker, a 200 ms stall: the ~40 requests due during it waited.
	if r.P90 < 1000 {
		t.Errorf("p90 = %v us; the stall's queued requests must show (coordinated omission)", r.P90)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {BaseURL: "http://x", Path: "/a", Keys: 2, Concurrency: 1, Duration: time.Second},
		{BaseURL: "http://x", Path: "/{id}", Keys: 1, Concurrency: 0, Duration: time.Second},
		{BaseURL: "http://x", Path: "/{id}", Keys: 1, Concurrency: 1, Duration: time.Second, WriteShare: 2}} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("Run(%+v): no error", c)
		}
	}
}
