package monitor

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// loadTimes returns a histogram of the given counts per bucket of
// LoadTimeBounds (not cumulative), the rest in +Inf.
func loadTimes(perBucket map[int]uint64, overflow uint64) aside.Histogram {
	var h aside.Histogram
	var cumulative uint64
	for i := range h.Buckets {
		cumulative += perBucket[i]
		h.Buckets[i] = cumulative
	}
	h.Count = cumulative + overflow
	return h
}

// Percentiles interpolate within a bucket as histogram_quantile does, and
// are absent without loads.
func TestQuantile(t *testing.T) {
	bounds := aside.LoadTimeBounds() // ... 0.001 (3), 0.0025 (4), 0.005 (5) ...
	gained := loadTimes(map[int]uint64{4: 50, 5: 50}, 0)
	for _, c := range []struct {
		q    float64
		want float64
	}{
		{0.5, 0.0025},                 // the 50th of 100 new loads: the top of the 1-2.5 ms bucket
		{0.25, 0.001 + 0.0015*25/50},  // halfway into it
		{0.99, 0.0025 + 0.0025*49/50}, // near the top of 2.5-5 ms
	} {
		got := quantile(c.q, bounds, gained)
		if got == nil || math.Abs(*got-c.want) > 1e-12 {
			t.Errorf("quantile(%v) = %v; want %v", c.q, deref(got), c.want)
		}
	}
	if got := quantile(0.5, bounds, aside.Histogram{}); got != nil {
		t.Errorf("quantile of an empty window = %v; want nil", *got)
	}
	slow := loadTimes(nil, 10) // every load past the last bound
	if got := quantile(0.5, bounds, slow); got == nil || *got != bounds[15] {
		t.Errorf("quantile of loads past every bound = %v; want the last bound %v", deref(got), bounds[15])
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// stats returns Stats with one namespace's hits and misses, and the same
// in the totals.
func statsOf(hits, misses uint64) aside.Stats {
	c := aside.Counters{Hits: hits, Misses: misses}
	return aside.Stats{Counters: c, Namespaces: map[string]aside.Counters{"users": c}}
}

// Rates and the hit rate "now" are over the last rateWindow; the chart has
// one point per interval between samples, null where nothing was read; a
// reset between samples counts what the counters hold since.
func TestBuildView(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	samples := []sample{
		{at(0), statsOf(0, 0)},
		{at(2), statsOf(0, 0)},     // nothing read
		{at(4), statsOf(10, 10)},   // 50%
		{at(6), statsOf(40, 20)},   // 75%
		{at(8), statsOf(5, 15)},    // reset, then 5 hits and 15 misses: 25%
		{at(14), statsOf(105, 15)}, // 100%
	}
	v := buildView(samples, 2*time.Second, 10*time.Minute)
	if len(v.Namespaces) != 2 || v.Namespaces[0].Name != "users" || v.Namespaces[1].Name != "" {
		t.Fatalf("namespaces %+v; want users, then the total", v.Namespaces)
	}
	users := v.Namespaces[0]
	want := []any{nil, 50.0, 75.0, 25.0, 100.0}
	if len(users.Chart) != len(want) {
		t.Fatalf("chart %v; want %d points", users.Chart, len(want))
	}
	for i, w := range want {
		if got := deref(users.Chart[i]); got != w {
			t.Errorf("chart[%d] = %v; want %v", i, got, w)
		}
	}
	// The rate window reaches back to the sample at 4 s (14 - 10): 30
	// hits and 10 misses before the reset, 105 and 15 after.
	if users.Rates.Hits != 13.5 || users.Rates.Misses != 2.5 {
		t.Errorf("rates %+v; want 13.5 hits/s and 2.5 misses/s over 10 s", users.Rates)
	}
	if users.HitRate == nil || *users.HitRate != 100*135.0/160 {
		t.Errorf("hit rate now = %v; want %v", deref(users.HitRate), 100*135.0/160)
	}
	if v.At != at(14).UnixMilli() || v.Every != 2 || v.Span != 600 {
		t.Errorf("view at %d every %v span %v", v.At, v.Every, v.Span)
	}
	if empty := buildView(nil, time.Second, time.Minute); len(empty.Namespaces) != 0 {
		t.Errorf("a view of no samples has namespaces %+v", empty.Namespaces)
	}
}

// The history samples every interval from the start, keeps the last span
// of samples, and its goroutine ends with close.
func TestHistorySamplesEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCache(t)
		h := newHistory(c, time.Second, 5*time.Second)
		time.Sleep(10*time.Second + time.Millisecond)
		got := h.all()
		if len(got) != 6 {
			t.Fatalf("%d samples after 10 s every 1 s keeping 5 s; want 6", len(got))
		}
		for i := 1; i < len(got); i++ {
			if d := got[i].at.Sub(got[i-1].at); d != time.Second {
				t.Errorf("samples %d and %d are %v apart; want 1s, oldest first", i-1, i, d)
			}
		}
		if newest := got[len(got)-1].at; !newest.Equal(time.Now().Add(-time.Millisecond)) {
			t.Errorf("the newest sample is from %v; want the last tick", newest)
		}
		h.close()
		h.close() // twice is harmless
		synctest.Wait()
	})
}

// newCache returns a cache on memstore, closed when the test ends.
func newCache(t *testing.T) *aside.Cache {
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

// The dashboard's answer stays small with a full history: ten namespaces
// over 10 minutes sampled every 2 s, every chart point a number.
func TestSeriesAnswerIsBounded(t *testing.T) {
	every, span := DefaultSampleEvery, DefaultHistory
	t0 := time.Unix(1_000_000, 0)
	var samples []sample
	for i := range int(span/every) + 1 {
		st := aside.Stats{Namespaces: map[string]aside.Counters{}}
		for n := range 10 {
			c := aside.Counters{Hits: uint64(i * 97), Misses: uint64(i * 13), Loads: uint64(i * 13)}
			c.LoadTime = loadTimes(map[int]uint64{3: uint64(i * 10), 4: uint64(i * 3)}, 0)
			st.Namespaces[fmt.Sprintf("namespace_%02d", n)] = c
			st.Counters.Hits += c.Hits
			st.Counters.Misses += c.Misses
		}
		samples = append(samples, sample{at: t0.Add(time.Duration(i) * every), stats: st})
	}
	b, err := json.Marshal(buildView(samples, every, span))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples of 10 namespaces: %d bytes of JSON", len(samples), len(b))
	if len(b) > 48<<10 {
		t.Errorf("the answer is %d bytes; want at most 48 KiB", len(b))
	}
}
