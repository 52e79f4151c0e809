package monitor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aside-cache/aside"
)

// unscoped labels the figures of keys under no namespace.
const unscoped = "none"

// Collector exports a Cache's figures to Prometheus, read from Stats at
// each scrape: per-namespace counters, hit ratio and load-time histogram,
// and the breaker's state.
type Collector struct {
	cache *aside.Cache

	counters                  []counterDesc
	hitRatio, loadTime, state *prometheus.Desc
	trips, pending, rewinds   *prometheus.Desc
	remembered                *prometheus.Desc
	near                      nearDescs
}

// nearDescs are the near cache's metrics, sent only when it is on.
type nearDescs struct {
	entries, bytes, serving, received, flushes, lag *prometheus.Desc
}

type counterDesc struct {
	desc  *prometheus.Desc
	value func(aside.Counters) uint64
}

// CollectorOptions configures a Collector. The zero value exports one
// cache's figures with no labels but its own.
type CollectorOptions struct {
	// ConstLabels are put on every series, so that several caches of one
	// process export side by side in one registry: {"cache": "sessions"}.
	// Without them a second Collector is refused by Register as a
	// duplicate. They may not be named namespace or state, which the
	// Collector's series carry already (Register says so).
	ConstLabels prometheus.Labels
}

// NewCollector returns a Collector of c's figures.
func NewCollector(c *aside.Cache, opts CollectorOptions) *Collector {
	ns := []string{"namespace"}
	desc := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, opts.ConstLabels)
	}
	counter := func(name, help string, v func(aside.Counters) uint64) counterDesc {
		return counterDesc{desc("aside_cache_"+name+"_total", help, ns), v}
	}
	return &Collector{
		cache: c,
		counters: []counterDesc{
			counter("hits", "Reads answered by the cache.", func(s aside.Counters) uint64 { return s.Hits }),
			counter("misses", "Reads the cache could not answer.", func(s aside.Counters) uint64 { return s.Misses }),
			counter("sets", "Entries written.", func(s aside.Counters) uint64 { return s.Sets }),
			counter("deletes", "Keys removed.", func(s aside.Counters) uint64 { return s.Deletes }),
			counter("errors", "Store failures and undecodable entries.", func(s aside.Counters) uint64 { return s.Errors }),
			counter("loads", "Loader calls.", func(s aside.Counters) uint64 { return s.Loads }),
			counter("load_errors", "Loader calls that failed.", func(s aside.Counters) uint64 { return s.LoadErrors }),
			counter("coalesced", "Misses that waited for another caller's load.", func(s aside.Counters) uint64 { return s.Coalesced }),
			counter("bypassed", "Store calls skipped while the breaker was open.", func(s aside.Counters) uint64 { return s.Bypassed }),
			counter("writes_skipped", "Fills not written (no lease).", func(s aside.Counters) uint64 { return s.WritesSkipped }),
			counter("fills_rejected", "Fills refused because an invalidation voided their lease.", func(s aside.Counters) uint64 { return s.FillsRejected }),
			counter("lease_waits", "Loads that waited for another process's loader.", func(s aside.Counters) uint64 { return s.LeaseWaits }),
			counter("stale_served", "Reads answered with a value past its TTL (fail-safe).", func(s aside.Counters) uint64 { return s.StaleServed }),
			counter("invalidations", "Keys invalidated (Invalidate, Delete), deferred ones included.", func(s aside.Counters) uint64 { return s.Invalidations }),
			counter("invalidations_replayed", "Invalidations the store took late, after an outage.", func(s aside.Counters) uint64 { return s.InvalidationsReplayed }),
			counter("near_hits", "Hits answered from the near cache, without the store.", func(s aside.Counters) uint64 { return s.NearHits }),
			counter("near_misses", "Reads of near-cached keys that asked the store.", func(s aside.Counters) uint64 { return s.NearMisses }),
		},
		near: nearDescs{
			entries:  desc("aside_near_entries", "Entries kept in the near cache.", nil),
			bytes:    desc("aside_near_bytes", "What the near cache's entries weigh.", nil),
			serving:  desc("aside_near_serving", "1 while the store's pushes are confirmed within MaxLag and the near cache serves.", nil),
			received: desc("aside_near_invalidations_received_total", "Keys the store told changed.", nil),
			flushes:  desc("aside_near_flushes_total", "Times the near cache dropped everything: a flush, a tracking connection lost or replaced.", nil),
			lag:      desc("aside_near_invalidation_lag_seconds", "From sending a write to the store's push about it, for this process's writes.", nil),
		},
		hitRatio:   desc("aside_cache_hit_ratio", "Hits / (hits + misses), 0 to 1.", ns),
		loadTime:   desc("aside_cache_load_duration_seconds", "Loader call durations.", ns),
		state:      desc("aside_cache_breaker_state", "1 for the circuit breaker's current state.", []string{"state"}),
		trips:      desc("aside_cache_breaker_trips_total", "Times the circuit breaker opened.", nil),
		pending:    desc("aside_cache_pending_invalidations", "Invalidations waiting for the store to take them.", nil),
		rewinds:    desc("aside_cache_rewinds_total", "Times the store's data was found to have maybe gone back in time (a restart, a failover, a flush), each followed by a replay of the remembered invalidations.", nil),
		remembered: desc("aside_cache_remembered_invalidations", "Invalidations remembered, to be made again if the store's data goes back in time.", nil),
	}
}

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d.desc
	}
	ch <- c.hitRatio
	ch <- c.loadTime
	ch <- c.state
	ch <- c.trips
	ch <- c.pending
	ch <- c.rewinds
	ch <- c.remembered
	for _, d := range []*prometheus.Desc{c.near.entries, c.near.bytes, c.near.serving, c.near.received, c.near.flushes, c.near.lag} {
		ch <- d
	}
}

// Collect sends the current figures.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.cache.Stats()
	rest := s.Counters // what no namespace accounts for
	for name, ns := range s.Namespaces {
		c.collectNamespace(ch, name, ns)
		subtract(&rest, ns)
	}
	if c.counted(rest) {
		c.collectNamespace(ch, unscoped, rest)
	}
	for _, st := range []aside.BreakerState{aside.BreakerClosed, aside.BreakerHalfOpen, aside.BreakerOpen, aside.BreakerNone} {
		v := 0.0
		if s.Breaker == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.trips, prometheus.CounterValue, float64(s.BreakerTrips))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.PendingInvalidations))
	ch <- prometheus.MustNewConstMetric(c.rewinds, prometheus.CounterValue, float64(s.Rewinds))
	ch <- prometheus.MustNewConstMetric(c.remembered, prometheus.GaugeValue, float64(s.RememberedInvalidations))
	if s.Near != nil {
		c.collectNear(ch, s.Near)
	}
}

func (c *Collector) collectNear(ch chan<- prometheus.Metric, n *aside.NearStats) {
	serving := 0.0
	if n.Serving {
		serving = 1
	}
	ch <- prometheus.MustNewConstMetric(c.near.entries, prometheus.GaugeValue, float64(n.Entries))
	ch <- prometheus.MustNewConstMetric(c.near.bytes, prometheus.GaugeValue, float64(n.Bytes))
	ch <- prometheus.MustNewConstMetric(c.near.serving, prometheus.GaugeValue, serving)
	ch <- prometheus.MustNewConstMetric(c.near.received, prometheus.CounterValue, float64(n.Received))
	ch <- prometheus.MustNewConstMetric(c.near.flushes, prometheus.CounterValue, float64(n.Flushes))
	ch <- prometheus.MustNewConstHistogram(c.near.lag, n.Lag.Count, n.Lag.Sum, histogramBuckets(aside.NearLagBounds(), n.Lag))
}

// histogramBuckets pairs h's cumulative counts with their bounds.
func histogramBuckets(bounds [16]float64, h aside.Histogram) map[float64]uint64 {
	buckets := make(map[float64]uint64, len(bounds))
	for i, bound := range bounds {
		buckets[bound] = h.Buckets[i]
	}
	return buckets
}

// counted reports whether a counter of s is not zero: keys under no
// namespace get their series from their first count of anything.
func (c *Collector) counted(s aside.Counters) bool {
	for _, d := range c.counters {
		if d.value(s) != 0 {
			return true
		}
	}
	return false
}

func (c *Collector) collectNamespace(ch chan<- prometheus.Metric, name string, s aside.Counters) {
	for _, d := range c.counters {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.value(s)), name)
	}
	ch <- prometheus.MustNewConstMetric(c.hitRatio, prometheus.GaugeValue, s.HitRate/100, name)
	ch <- prometheus.MustNewConstHistogram(c.loadTime, s.LoadTime.Count, s.LoadTime.Sum, histogramBuckets(aside.LoadTimeBounds(), s.LoadTime), name)
}

// subtract removes a namespace's figures from the totals.
func subtract(total *aside.Counters, ns aside.Counters) {
	total.Hits -= ns.Hits
	total.Misses -= ns.Misses
	total.Sets -= ns.Sets
	total.Deletes -= ns.Deletes
	total.Errors -= ns.Errors
	total.Loads -= ns.Loads
	total.LoadErrors -= ns.LoadErrors
	total.Coalesced -= ns.Coalesced
	total.Bypassed -= ns.Bypassed
	total.WritesSkipped -= ns.WritesSkipped
	total.FillsRejected -= ns.FillsRejected
	total.LeaseWaits -= ns.LeaseWaits
	total.StaleServed -= ns.StaleServed
	total.Invalidations -= ns.Invalidations
	total.InvalidationsReplayed -= ns.InvalidationsReplayed
	total.NearHits -= ns.NearHits
	total.NearMisses -= ns.NearMisses
	total.LoadTime.Count -= ns.LoadTime.Count
	total.LoadTime.Sum -= ns.LoadTime.Sum
	for i := range total.LoadTime.Buckets {
		total.LoadTime.Buckets[i] -= ns.LoadTime.Buckets[i]
	}
	total.HitRate = 0
	if total.Hits+total.Misses > 0 {
		total.HitRate = float64(total.Hits) / float64(total.Hits+total.Misses) * 100
	}
}
