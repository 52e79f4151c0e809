package monitor_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/monitor"
)

// newMemCache returns a cache on memstore, closed when the test ends.
func newMemCache(t *testing.T) *aside.Cache {
	t.Helper()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := aside.New(store, aside.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// batchPath is a GET batch of n calls of monitoring.cacheStats.
func batchPath(n int) string {
	return "/trpc/" + strings.TrimSuffix(strings.Repeat("monitoring.cacheStats,", n), ",") + "?batch=1"
}

// serve answers one request and returns the recorder, with the bytes the
// handler allocated doing it.
func serve(h http.Handler, r *http.Request) (*httptest.ResponseRecorder, uint64) {
	w := httptest.NewRecorder()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h.ServeHTTP(w, r)
	runtime.ReadMemStats(&after)
	return w, after.TotalAlloc - before.TotalAlloc
}

// A batch of up to MaxBatch procedures is answered in full; one more is
// refused whole with one BAD_REQUEST that names the cap.
func TestABatchOverTheCapIsRefusedWhole(t *testing.T) {
	h := monitor.New(newMemCache(t), monitor.Options{})
	w, _ := serve(h, httptest.NewRequest("GET", batchPath(monitor.MaxBatch), nil))
	var answers []json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &answers); w.Code != 200 || err != nil || len(answers) != monitor.MaxBatch {
		t.Fatalf("a batch of %d = %d, %d answers (%v); want 200 with each answered", monitor.MaxBatch, w.Code, len(answers), err)
	}
	w, _ = serve(h, httptest.NewRequest("GET", batchPath(monitor.MaxBatch+1), nil))
	var e struct {
		Error struct {
			Message string
			Data    struct{ Code string }
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); w.Code != 400 || err != nil || e.Error.Data.Code != "BAD_REQUEST" ||
		!strings.Contains(e.Error.Message, strconv.Itoa(monitor.MaxBatch)) {
		t.Errorf("a batch of %d = %d %s; want 400 BAD_REQUEST naming the cap", monitor.MaxBatch+1, w.Code, w.Body)
	}
}

// The finding of issue 11: 300,000 names in a 600 KB path made the server
// answer 38 MB and grow by 650 MB. Refused before any work, it costs a
// small answer and well under a megabyte of allocation.
func TestAHugeBatchBuysNoMemory(t *testing.T) {
	h := monitor.New(newMemCache(t), monitor.Options{})
	path := "/trpc/" + strings.TrimSuffix(strings.Repeat("x,", 300_000), ",") + "?batch=1"
	r := httptest.NewRequest("GET", path, nil)
	w, allocated := serve(h, r)
	if w.Code != 400 || w.Body.Len() > 1<<10 {
		t.Errorf("a batch of 300,000 names = %d with %d bytes; want a 400 of under 1 KiB", w.Code, w.Body.Len())
	}
	if allocated > 256<<10 {
		t.Errorf("a batch of 300,000 names allocated %d bytes; want under 256 KiB", allocated)
	}
}

// A path too long for any batch within the cap is refused before its names
// are split, whatever it holds.
func TestALongPathIsRefused(t *testing.T) {
	h := monitor.New(newMemCache(t), monitor.Options{})
	for _, path := range []string{
		"/trpc/" + strings.Repeat("x", monitor.MaxPathLen+1) + "?batch=1",
		"/trpc/" + strings.Repeat("x", monitor.MaxPathLen+1),
	} {
		w, _ := serve(h, httptest.NewRequest("GET", path, nil))
		if w.Code != 400 || w.Body.Len() > 1<<10 {
			t.Errorf("GET of a %d-byte path = %d with %d bytes; want a 400 of under 1 KiB", len(path), w.Code, w.Body.Len())
		}
	}
}
