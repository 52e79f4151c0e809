package monitor

import (
	"slices"
	"sort"
	"time"

	"github.com/aside-cache/aside"
)

// The windows of the dashboard's figures: rates and the hit rate "now"
// over the last rateWindow, short enough to follow a change within
// seconds; percentiles over the last quantileWindow, long enough to hold a
// few loads of a quiet namespace.
const (
	rateWindow     = 10 * time.Second
	quantileWindow = time.Minute
)

// view is what the dashboard shows, computed from the history at each
// request, so that the page only draws it.
type view struct {
	At         int64           `json:"at"`    // Unix ms of the newest sample
	Every      float64         `json:"every"` // seconds between samples
	Span       float64         `json:"span"`  // seconds the charts cover once the history is full
	RateWindow float64         `json:"rateWindow"`
	KeyPrefix  string          `json:"keyPrefix"`
	Mutations  mutationsView   `json:"mutations"`
	Cache      cacheView       `json:"cache"`
	Namespaces []namespaceView `json:"namespaces"` // by name, the total (name "") last
}

// mutationsView says whether the clear forms can work, and if not why.
type mutationsView struct {
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason,omitempty"`
}

// cacheView is the state of the cache as a whole.
type cacheView struct {
	Breaker      aside.BreakerState `json:"breaker"`
	BreakerTrips uint64             `json:"breakerTrips"`
	Pending      int                `json:"pendingInvalidations"`
	Replayed     uint64             `json:"invalidationsReplayed"`
	Rewinds      uint64             `json:"rewinds"`
	Near         *nearView          `json:"near,omitempty"`
}

// nearView is the near cache's state, with its coherence lag.
type nearView struct {
	Entries      int      `json:"entries"`
	Bytes        int64    `json:"bytes"`
	Serving      bool     `json:"serving"`
	Received     uint64   `json:"received"`
	ReceivedRate float64  `json:"receivedRate"` // keys a second over the rate window
	Flushes      uint64   `json:"flushes"`
	Lag          summary  `json:"lag"`      // seconds, over the quantile window
	HitShare     *float64 `json:"hitShare"` // percent of hits answered in process, over the rate window
}

// namespaceView is one namespace's figures, or the total's.
type namespaceView struct {
	Name       string     `json:"name"`
	Totals     totals     `json:"totals"`
	Rates      rates      `json:"rates"`
	HitRate    *float64   `json:"hitRate"`    // percent over the rate window; null without reads in it
	HitRateAll float64    `json:"hitRateAll"` // percent since the start (or the last reset)
	LoadTime   summary    `json:"loadTime"`   // seconds, over the quantile window
	Chart      []*float64 `json:"chart"`      // hit rate (percent) between consecutive samples, oldest first; null without reads
}

// totals are the counts since the start, as the tRPC stats give them.
type totals struct {
	Hits          uint64 `json:"hits"`
	Misses        uint64 `json:"misses"`
	Loads         uint64 `json:"loads"`
	Errors        uint64 `json:"errors"`
	LoadErrors    uint64 `json:"loadErrors"`
	StaleServed   uint64 `json:"staleServed"`
	LeaseWaits    uint64 `json:"leaseWaits"`
	Invalidations uint64 `json:"invalidations"`
	Replayed      uint64 `json:"invalidationsReplayed"`
}

// rates are counts a second over the rate window.
type rates struct {
	Hits          float64 `json:"hits"`
	Misses        float64 `json:"misses"`
	Loads         float64 `json:"loads"`
	Errors        float64 `json:"errors"`
	LoadErrors    float64 `json:"loadErrors"`
	StaleServed   float64 `json:"staleServed"`
	LeaseWaits    float64 `json:"leaseWaits"`
	Invalidations float64 `json:"invalidations"`
}

// summary is a distribution's count and percentiles; a percentile is null
// when the window holds nothing.
type summary struct {
	Count uint64   `json:"count"`
	P50   *float64 `json:"p50"`
	P90   *float64 `json:"p90"`
	P99   *float64 `json:"p99"`
}

// buildView computes the dashboard's figures from samples, oldest first.
func buildView(samples []sample, every, span time.Duration) view {
	v := view{Every: every.Seconds(), Span: span.Seconds(), RateWindow: rateWindow.Seconds()}
	if len(samples) == 0 {
		return v
	}
	last := samples[len(samples)-1]
	rateBase := baseOf(samples, last.at.Add(-rateWindow))
	quantileBase := baseOf(samples, last.at.Add(-quantileWindow))
	v.At = last.at.UnixMilli()
	v.Cache = cacheOf(last, rateBase, quantileBase)
	for _, name := range namesOf(samples) {
		v.Namespaces = append(v.Namespaces, namespaceOf(name, samples, rateBase, quantileBase))
	}
	return v
}

// baseOf returns the newest sample taken at or before t, or the oldest.
func baseOf(samples []sample, t time.Time) sample {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].at.After(t) })
	return samples[max(i-1, 0)]
}

// namesOf returns the namespaces of any sample, sorted, then "" for the
// total.
func namesOf(samples []sample) []string {
	seen := map[string]bool{}
	for _, s := range samples {
		for name := range s.stats.Namespaces {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen)+1)
	for name := range seen {
		names = append(names, name)
	}
	slices.Sort(names)
	return append(names, "")
}

// countersOf returns a namespace's counters in s, or the total's for "".
func countersOf(s sample, name string) aside.Counters {
	if name == "" {
		return s.stats.Counters
	}
	return s.stats.Namespaces[name]
}

func cacheOf(last, rateBase, quantileBase sample) cacheView {
	s := last.stats
	c := cacheView{Breaker: s.Breaker, BreakerTrips: s.BreakerTrips, Pending: s.PendingInvalidations,
		Replayed: s.InvalidationsReplayed, Rewinds: s.Rewinds}
	if n := s.Near; n != nil {
		c.Near = &nearView{Entries: n.Entries, Bytes: n.Bytes, Serving: n.Serving, Received: n.Received, Flushes: n.Flushes}
		var lagBase aside.Histogram
		var receivedBefore uint64
		if quantileBase.stats.Near != nil {
			lagBase = quantileBase.stats.Near.Lag
		}
		if rateBase.stats.Near != nil {
			receivedBefore = rateBase.stats.Near.Received
		}
		c.Near.Lag = summarize(aside.NearLagBounds(), lagBase, n.Lag)
		c.Near.ReceivedRate = perSecond(receivedBefore, n.Received, last.at.Sub(rateBase.at))
		c.Near.HitShare = share(delta(rateBase.stats.NearHits, s.NearHits), delta(rateBase.stats.Hits, s.Hits))
	}
	return c
}

func namespaceOf(name string, samples []sample, rateBase, quantileBase sample) namespaceView {
	last := samples[len(samples)-1]
	now, before := countersOf(last, name), countersOf(rateBase, name)
	dt := last.at.Sub(rateBase.at)
	ns := namespaceView{
		Name:       name,
		HitRateAll: now.HitRate,
		Totals: totals{Hits: now.Hits, Misses: now.Misses, Loads: now.Loads, Errors: now.Errors, LoadErrors: now.LoadErrors,
			StaleServed: now.StaleServed, LeaseWaits: now.LeaseWaits, Invalidations: now.Invalidations, Replayed: now.InvalidationsReplayed},
		Rates: rates{
			Hits: perSecond(before.Hits, now.Hits, dt), Misses: perSecond(before.Misses, now.Misses, dt),
			Loads: perSecond(before.Loads, now.Loads, dt), Errors: perSecond(before.Errors, now.Errors, dt),
			LoadErrors: perSecond(before.LoadErrors, now.LoadErrors, dt), StaleServed: perSecond(before.StaleServed, now.StaleServed, dt),
			LeaseWaits: perSecond(before.LeaseWaits, now.LeaseWaits, dt), Invalidations: perSecond(before.Invalidations, now.Invalidations, dt),
		},
		HitRate:  hitRate(before, now),
		LoadTime: summarize(aside.LoadTimeBounds(), countersOf(quantileBase, name).LoadTime, now.LoadTime),
		Chart:    make([]*float64, 0, len(samples)-1),
	}
	for i := 1; i < len(samples); i++ {
		ns.Chart = append(ns.Chart, hitRate(countersOf(samples[i-1], name), countersOf(samples[i], name)))
	}
	return ns
}

// delta is how much a counter grew from a to b; a counter that went back
// (ResetStats) grew by what it holds now.
func delta(a, b uint64) uint64 {
	if b < a {
		return b
	}
	return b - a
}

func perSecond(a, b uint64, dt time.Duration) float64 {
	if dt <= 0 {
		return 0
	}
	return float64(delta(a, b)) / dt.Seconds()
}

// hitRate is the percentage of the reads between two snapshots that hit,
// or nil when there were none.
func hitRate(before, now aside.Counters) *float64 {
	return share(delta(before.Hits, now.Hits), delta(before.Hits, now.Hits)+delta(before.Misses, now.Misses))
}

// share is part/whole in percent, or nil when whole is 0.
func share(part, whole uint64) *float64 {
	if whole == 0 {
		return nil
	}
	p := float64(part) / float64(whole) * 100
	return &p
}

// summarize returns the count and the 50th, 90th and 99th percentiles of
// the durations a histogram gained from before to now.
func summarize(bounds [16]float64, before, now aside.Histogram) summary {
	if now.Count < before.Count { // reset between the two
		before = aside.Histogram{}
	}
	return summary{Count: now.Count - before.Count, P50: quantile(0.5, bounds, before, now),
		P90: quantile(0.9, bounds, before, now), P99: quantile(0.99, bounds, before, now)}
}

// quantile estimates the q-quantile of the durations a histogram gained
// from before to now, interpolating linearly within a bucket as
// Prometheus's histogram_quantile does; one past the last bound is the
// last bound. It is nil when no duration was added.
func quantile(q float64, bounds [16]float64, before, now aside.Histogram) *float64 {
	count := now.Count - before.Count
	if count == 0 {
		return nil
	}
	rank := q * float64(count)
	lower, below := 0.0, 0.0
	for i, bound := range bounds {
		in := float64(now.Buckets[i] - before.Buckets[i])
		if in >= rank {
			v := bound
			if in > below {
				v = lower + (bound-lower)*(rank-below)/(in-below)
			}
			return &v
		}
		lower, below = bound, in
	}
	v := bounds[len(bounds)-1]
	return &v
}
