package monitor_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/monitor"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// Every counter the collector exports moves when the cache does what it
// counts: a miss, a fill, a hit, a value served stale, a fill refused, a
// wait on another process's lease, calls bypassed by the open breaker and
// an invalidation replayed after the outage; all on a private Redis.
func TestCollectorExportsEveryCounter(t *testing.T) {
	srv := redistest.Start(t)
	var ahead atomic.Int64 // how far the first cache's clock runs ahead
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	c := newCache(t, srv.Addr, aside.Options{KeyPrefix: "m:", Now: now})
	other := newCache(t, srv.Addr, aside.Options{KeyPrefix: "m:"}) // another process
	cfg := aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Minute, MaxStale: time.Hour}
	users, err := aside.NewNamespace[string](c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	otherUsers, err := aside.NewNamespace[string](other, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	value := func(v string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return v, nil }
	}

	// A miss, its load and fill, then a hit.
	users.Get(ctx, "1", value("ada"))
	users.Get(ctx, "1", value("ada"))

	// Past its TTL, with the database failing: served stale.
	ahead.Store(int64(2 * time.Minute))
	if v, err := users.Get(ctx, "1", func(context.Context) (string, error) { return "", errors.New("database down") }); v != "ada" || err != nil {
		t.Fatalf("read past the TTL with the loader failing = %q, %v; want the stale value", v, err)
	}

	ahead.Store(0) // leases, too, are judged by the reader's clock

	// An invalidation during a load: its fill is refused.
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		users.Get(ctx, "2", func(context.Context) (string, error) { close(started); <-release; return "old", nil })
	}()
	<-started
	if err := users.Invalidate(ctx, "2"); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done

	// Another process holds the lease: this one waits for its fill.
	started, release = make(chan struct{}), make(chan struct{})
	done = make(chan struct{})
	go func() {
		defer close(done)
		otherUsers.Get(ctx, "3", func(context.Context) (string, error) { close(started); <-release; return "grace", nil })
	}()
	<-started
	waited := make(chan string)
	go func() { v, _ := users.Get(ctx, "3", value("not me")); waited <- v }()
	for deadline := time.Now().Add(10 * time.Second); c.Stats().LeaseWaits == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the reader never waited on the other process's lease")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-done
	if v := <-waited; v != "grace" {
		t.Fatalf("the waiter read %q; want the lease holder's value", v)
	}

	// Redis freezes: an invalidation is deferred, reads open the breaker
	// and then bypass it; after Redis answers, the invalidation is replayed.
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := users.Invalidate(ctx, "1"); !errors.Is(err, aside.ErrDeferred) {
		srv.Resume()
		t.Fatalf("Invalidate with Redis frozen = %v; want ErrDeferred", err)
	}
	for range 10 {
		users.Get(ctx, "4", value("lin"))
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); c.Stats().InvalidationsReplayed == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the deferred invalidation was never replayed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	got := scrape(t, c)
	for _, name := range []string{"hits", "misses", "sets", "loads", "load_errors", "errors", "stale_served",
		"fills_rejected", "lease_waits", "bypassed", "invalidations_replayed"} {
		metric := "aside_cache_" + name + "_total"
		if got[metric+"/users"] <= 0 {
			t.Errorf("%s{namespace=users} = %v; want above 0", metric, got[metric+"/users"])
		}
	}
	if r := got["aside_cache_hit_ratio/users"]; r <= 0 || r > 1 {
		t.Errorf("aside_cache_hit_ratio{namespace=users} = %v; want in (0, 1]", r)
	}
	if got["aside_cache_load_duration_seconds/users"] < 4 {
		t.Errorf("%v loads in the load-time histogram; want at least 4", got["aside_cache_load_duration_seconds/users"])
	}
	if got["aside_cache_breaker_trips_total/"] < 1 {
		t.Errorf("aside_cache_breaker_trips_total = %v; want at least 1", got["aside_cache_breaker_trips_total/"])
	}
	if got["aside_cache_stale_served_total/"+"none"] != 0 {
		t.Error("keys under no namespace got a stale read they never made")
	}
}

// Keys under no namespace get their series once anything is counted for
// them, even a counter other than hits, misses and sets: here only a
// replayed invalidation.
func TestCollectorExportsKeysUnderNoNamespace(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, srv.Addr, aside.Options{KeyPrefix: "m:"})
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Delete(context.Background(), "k")
	c.ResetStats() // forget the failure; Redis, frozen, cannot take the replay yet
	srv.Resume()
	if !errors.Is(err, aside.ErrDeferred) {
		t.Fatalf("Delete with Redis frozen = %v; want ErrDeferred", err)
	}
	for deadline := time.Now().Add(10 * time.Second); c.Stats().InvalidationsReplayed == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the deferred delete was never replayed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := scrape(t, c); got["aside_cache_invalidations_replayed_total/none"] != 1 {
		t.Errorf("aside_cache_invalidations_replayed_total{namespace=none} = %v; want 1 (stats %+v)",
			got["aside_cache_invalidations_replayed_total/none"], c.Stats().Counters)
	}
}

// A flush is a rewind: counted, and the invalidation made before it is
// one the cache remembered.
func TestCollectorExportsRewinds(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, srv.Addr, aside.Options{KeyPrefix: "m:"})
	if _, err := c.Delete(context.Background(), "k"); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, c); got["aside_cache_remembered_invalidations/"] != 1 || got["aside_cache_rewinds_total/"] != 0 {
		t.Errorf("before the flush: remembered %v, rewinds %v; want 1 and 0",
			got["aside_cache_remembered_invalidations/"], got["aside_cache_rewinds_total/"])
	}
	if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Rewinds == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the flush was never found")
		}
	}
	if got := scrape(t, c); got["aside_cache_rewinds_total/"] != 1 {
		t.Errorf("aside_cache_rewinds_total = %v; want 1", got["aside_cache_rewinds_total/"])
	}
}

func newCache(t *testing.T, addr string, opts aside.Options) *aside.Cache {
	t.Helper()
	store, err := redisstore.New(redisstore.Options{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := aside.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// scrape gathers c's metrics as "name/namespace" → value: a counter's or
// gauge's value, a histogram's count. A metric without a namespace label
// is "name/".
func scrape(t *testing.T, c *aside.Cache) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(monitor.NewCollector(c, monitor.CollectorOptions{}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			ns := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" {
					ns = l.GetValue()
				}
			}
			got[f.GetName()+"/"+ns] = value(m)
		}
	}
	return got
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// With a near cache, its hits and misses are counted per namespace, and
// its state, the changes it was told, its flushes and the lag of this
// process's writes are exported; without one, none of its series is.
func TestCollectorExportsTheNearCache(t *testing.T) {
	srv := redistest.Start(t)
	if got := scrape(t, newCache(t, srv.Addr, aside.Options{KeyPrefix: "plain:"})); got["aside_near_serving/"] != 0 {
		t.Errorf("a cache without a near cache exports aside_near_serving")
	}
	c := newCache(t, srv.Addr, aside.Options{KeyPrefix: "near:", NearCache: aside.NearCacheOptions{Enabled: true}})
	users, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	load := func(context.Context) (string, error) { return "ada", nil }
	for deadline := time.Now().Add(10 * time.Second); c.Stats().NearHits == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no near hit")
		}
		users.Get(ctx, "1", load)
	}
	users.Invalidate(ctx, "1")
	redistest.Do(srv.Addr, "FLUSHALL")
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Near.Lag.Count == 0 || c.Stats().Near.Flushes == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the invalidation's push or the flush never came: %+v", c.Stats().Near)
		}
		time.Sleep(time.Millisecond)
	}
	got := scrape(t, c)
	for _, name := range []string{"aside_cache_near_hits_total/users", "aside_cache_near_misses_total/users",
		"aside_near_invalidations_received_total/", "aside_near_flushes_total/", "aside_near_invalidation_lag_seconds/"} {
		if got[name] <= 0 {
			t.Errorf("%s = %v; want above 0", name, got[name])
		}
	}
	if _, ok := got["aside_near_serving/"]; !ok {
		t.Error("aside_near_serving is not exported")
	}
}

// Two caches of one process export side by side in one registry when
// their collectors carry a constant label; without one the second is
// refused as a duplicate, and a label the collector's series already carry
// is refused with an error that names it.
func TestCollectorsOfTwoCachesShareARegistry(t *testing.T) {
	users, sessions := newMemCache(t), newMemCache(t)
	for _, c := range []*aside.Cache{users, sessions} {
		if _, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	ns, _ := aside.NewNamespace[string](users, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	ns.Get(ctx, "1", func(context.Context) (string, error) { return "ada", nil })
	ns.Invalidate(ctx, "1")

	reg := prometheus.NewRegistry()
	if err := reg.Register(monitor.NewCollector(users, monitor.CollectorOptions{ConstLabels: prometheus.Labels{"cache": "users"}})); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(monitor.NewCollector(sessions, monitor.CollectorOptions{ConstLabels: prometheus.Labels{"cache": "sessions"}})); err != nil {
		t.Fatalf("a second cache with its own label: %v", err)
	}
	var already prometheus.AlreadyRegisteredError
	if err := reg.Register(monitor.NewCollector(sessions, monitor.CollectorOptions{ConstLabels: prometheus.Labels{"cache": "sessions"}})); !errors.As(err, &already) {
		t.Errorf("the same label again: %v; want AlreadyRegisteredError", err)
	}
	if err := prometheus.NewRegistry().Register(monitor.NewCollector(users, monitor.CollectorOptions{ConstLabels: prometheus.Labels{"namespace": "x"}})); err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Errorf("a const label named namespace: %v; want an error naming it", err)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	misses := map[string]float64{} // cache → aside_cache_misses_total{namespace="users"}
	invalidations := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != "users" {
				continue
			}
			switch f.GetName() {
			case "aside_cache_misses_total":
				misses[labels["cache"]] = value(m)
			case "aside_cache_invalidations_total":
				invalidations[labels["cache"]] = value(m)
			}
		}
	}
	if misses["users"] != 1 || misses["sessions"] != 0 || len(misses) != 2 {
		t.Errorf("aside_cache_misses_total by cache = %v; want users 1, sessions 0", misses)
	}
	if invalidations["users"] != 1 || invalidations["sessions"] != 0 {
		t.Errorf("aside_cache_invalidations_total by cache = %v; want users 1, sessions 0", invalidations)
	}
}
