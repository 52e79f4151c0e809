package aside_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// BenchmarkNearZipf is the two-instance workload: two caches (two
// processes' worth: stores of their own) over one private Redis, 1,000
// keys read by Zipf's law (s = 1.1), 5% of operations writes (a database
// update, then its invalidation), 64 goroutines split between the
// caches; with the near cache and without. It reports the hit rate,
// database loads per 1,000 operations, Redis commands per operation (all
// Redis ran meanwhile, the near cache's confirmations included), the share
// of hits answered from memory, the keys Redis pushed (both caches), and
// the near cache's invalidation lag (this process's writes, from sending
// to the push), as bucket bounds.
//
//	go test -run '^$' -bench NearZipf -benchtime 200000x -count 3 .
func BenchmarkNearZipf(b *testing.B) {
	srv := redistest.Start(b)
	for _, near := range []bool{false, true} {
		name := "redis"
		if near {
			name = "redis+near"
		}
		b.Run(name, func(b *testing.B) { zipfRun(b, srv, near) })
	}
}

// zipfDB is the workload's database: a version per key, and its loads.
type zipfDB struct {
	mu    sync.Mutex
	rows  map[int]int64
	loads atomic.Int64
}

func (d *zipfDB) load(key int) func(context.Context) (int64, error) {
	return func(context.Context) (int64, error) {
		d.loads.Add(1)
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.rows[key], nil
	}
}

func (d *zipfDB) bump(key int) {
	d.mu.Lock()
	d.rows[key]++
	d.mu.Unlock()
}

func zipfRun(b *testing.B, srv *redistest.Server, near bool) {
	prefix := uniquePrefix(b)
	opts := aside.Options{KeyPrefix: prefix, NearCache: aside.NearCacheOptions{Enabled: near}}
	var nss [2]*aside.Namespace[int64]
	var caches [2]*aside.Cache
	for i := range caches {
		caches[i] = newCache(b, newRedisStore(b, srv.Addr), opts)
		nss[i] = newNamespace[int64](b, caches[i], aside.NamespaceConfig{Name: "rows", TTL: time.Hour})
	}
	if near {
		for _, c := range caches {
			for deadline := time.Now().Add(10 * time.Second); !c.Stats().Near.Serving; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("the near cache never served")
				}
			}
		}
	}
	db := &zipfDB{rows: map[int]int64{}}
	ctx := context.Background()
	var next atomic.Int64
	before := redisCommands(b, srv)
	b.ResetTimer()
	b.SetParallelism(benchGoroutinesPerProc)
	b.RunParallel(func(pb *testing.PB) {
		ns := nss[next.Add(1)%2]
		r := rand.New(rand.NewPCG(uint64(next.Load()), 7))
		zipf := rand.NewZipf(r, 1.1, 1, 999)
		for pb.Next() {
			key := int(zipf.Uint64())
			if r.Float64() < 0.05 {
				db.bump(key)
				ns.Invalidate(ctx, strconv.Itoa(key))
				continue
			}
			if _, err := ns.Get(ctx, strconv.Itoa(key), db.load(key)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	commands := redisCommands(b, srv) - before
	var hits, misses, nearHits, pushed uint64
	var lag aside.Histogram
	for _, c := range caches {
		st := c.Stats()
		hits, misses, nearHits = hits+st.Hits, misses+st.Misses, nearHits+st.NearHits
		if st.Near != nil {
			lag = mergeHistograms(lag, st.Near.Lag)
			pushed += st.Near.Received
		}
	}
	b.ReportMetric(100*float64(hits)/float64(max(hits+misses, 1)), "hit%")
	b.ReportMetric(1000*float64(db.loads.Load())/float64(b.N), "loads/1k-ops")
	b.ReportMetric(float64(commands)/float64(b.N), "redis-cmds/op")
	if near {
		b.ReportMetric(100*float64(nearHits)/float64(max(hits, 1)), "near%-of-hits")
		b.ReportMetric(float64(pushed)/float64(b.N), "keys-pushed/op")
		b.ReportMetric(quantileBound(lag, 0.5)*1e6, "lag-p50-µs≤")
		b.ReportMetric(quantileBound(lag, 0.99)*1e6, "lag-p99-µs≤")
		b.ReportMetric(quantileBound(lag, 1)*1e6, "lag-max-µs≤")
		b.ReportMetric(lag.Sum/float64(max(lag.Count, 1))*1e6, "lag-mean-µs")
	}
}

// redisCommands is how many commands srv has run.
func redisCommands(b *testing.B, srv *redistest.Server) int64 {
	info, err := redistest.Do(srv.Addr, "INFO", "stats")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no total_commands_processed")
	return 0
}

func mergeHistograms(a, b aside.Histogram) aside.Histogram {
	a.Count += b.Count
	a.Sum += b.Sum
	for i := range a.Buckets {
		a.Buckets[i] += b.Buckets[i]
	}
	return a
}

// quantileBound is the upper bound of the bucket holding h's q quantile
// (+Inf past the last bound).
func quantileBound(h aside.Histogram, q float64) float64 {
	bounds := aside.NearLagBounds()
	want := uint64(q * float64(h.Count))
	for i, c := range h.Buckets {
		if c >= max(want, 1) {
			return bounds[i]
		}
	}
	return bounds[len(bounds)-1] * 2 // past the last bound: reported as twice it
}
