package monitor

import (
	"math"
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
	last := samples[len(samples)-1].at
	w := windows{
		rate:     samples[baseOf(samples, last.Add(-rateWindow)):],
		quantile: samples[baseOf(samples, last.Add(-quantileWindow)):],
	}
	v.At = last.UnixMilli()
	v.Cache = cacheOf(w)
	for _, name := range namesOf(samples) {
		v.Namespaces = append(v.Namespaces, namespaceOf(name, samples, w))
	}
	return v
}

// windows are the samples of the rate window and of the quantile window,
// each ending with the newest.
type windows struct {
	rate, quantile []sample
}

// seconds is the time a window's samples span.
func seconds(w []sample) float64 { return w[len(w)-1].at.Sub(w[0].at).Seconds() }

// baseOf returns the index of the newest sample taken at or before t, or 0.
func baseOf(samples []sample, t time.Time) int {
	i := sort.Search(len(samples), func(i int) bool { return samples[i].at.After(t) })
	return max(i-1, 0)
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

func cacheOf(w windows) cacheView {
	s := w.rate[len(w.rate)-1].stats
	c := cacheView{Breaker: s.Breaker, BreakerTrips: s.BreakerTrips, Pending: s.PendingInvalidations,
		Replayed: s.InvalidationsReplayed, Rewinds: s.Rewinds}
	n := s.Near
	if n == nil {
		return c
	}
	near := func(get func(aside.NearStats) uint64) func(sample) uint64 {
		return func(s sample) uint64 {
			if s.stats.Near == nil {
				return 0
			}
			return get(*s.stats.Near)
		}
	}
	lag := func(s sample) aside.Histogram {
		if s.stats.Near == nil {
			return aside.Histogram{}
		}
		return s.stats.Near.Lag
	}
	c.Near = &nearView{Entries: n.Entries, Bytes: n.Bytes, Serving: n.Serving, Received: n.Received, Flushes: n.Flushes,
		ReceivedRate: perSecond(w.rate, near(func(n aside.NearStats) uint64 { return n.Received })),
		Lag:          summarize(aside.NearLagBounds(), histogramIncrease(w.quantile, lag)),
		HitShare: share(increase(w.rate, func(s sample) uint64 { return s.stats.NearHits }),
			increase(w.rate, func(s sample) uint64 { return s.stats.Hits })),
	}
	return c
}

func namespaceOf(name string, samples []sample, w windows) namespaceView {
	now := countersOf(samples[len(samples)-1], name)
	rate := func(get func(aside.Counters) uint64) float64 {
		return perSecond(w.rate, func(s sample) uint64 { return get(countersOf(s, name)) })
	}
	ns := namespaceView{
		Name:       name,
		HitRateAll: now.HitRate,
		Totals: totals{Hits: now.Hits, Misses: now.Misses, Loads: now.Loads, Errors: now.Errors, LoadErrors: now.LoadErrors,
			StaleServed: now.StaleServed, LeaseWaits: now.LeaseWaits, Invalidations: now.Invalidations, Replayed: now.InvalidationsReplayed},
		Rates: rates{
			Hits:          rate(func(c aside.Counters) uint64 { return c.Hits }),
			Misses:        rate(func(c aside.Counters) uint64 { return c.Misses }),
			Loads:         rate(func(c aside.Counters) uint64 { return c.Loads }),
			Errors:        rate(func(c aside.Counters) uint64 { return c.Errors }),
			LoadErrors:    rate(func(c aside.Counters) uint64 { return c.LoadErrors }),
			StaleServed:   rate(func(c aside.Counters) uint64 { return c.StaleServed }),
			LeaseWaits:    rate(func(c aside.Counters) uint64 { return c.LeaseWaits }),
			Invalidations: rate(func(c aside.Counters) uint64 { return c.Invalidations }),
		},
		HitRate:  hitRate(w.rate, name),
		LoadTime: summarize(aside.LoadTimeBounds(), histogramIncrease(w.quantile, func(s sample) aside.Histogram { return countersOf(s, name).LoadTime })),
		Chart:    make([]*float64, 0, len(samples)-1),
	}
	for i := 1; i < len(samples); i++ {
		ns.Chart = append(ns.Chart, tenths(hitRate(samples[i-1:i+1], name)))
	}
	return ns
}

// tenths rounds a percentage to a tenth: a chart 300 points wide shows no
// more, and the answer, polled every 2 s, is a third of the size.
func tenths(p *float64) *float64 {
	if p != nil {
		*p = math.Round(*p*10) / 10
	}
	return p
}

// increase is how much a counter grew over samples. A counter that went
// back (ResetStats) grew by what it held next, as Prometheus's rate reads
// a reset.
func increase(samples []sample, get func(sample) uint64) uint64 {
	var sum uint64
	for i := 1; i < len(samples); i++ {
		sum += delta(get(samples[i-1]), get(samples[i]))
	}
	return sum
}

func delta(a, b uint64) uint64 {
	if b < a {
		return b
	}
	return b - a
}

// perSecond is a counter's increase a second over samples, 0 over no time.
func perSecond(samples []sample, get func(sample) uint64) float64 {
	if len(samples) < 2 {
		return 0
	}
	return float64(increase(samples, get)) / seconds(samples)
}

// hitRate is the percentage of a namespace's reads over samples that hit,
// or nil when there were none.
func hitRate(samples []sample, name string) *float64 {
	hits := increase(samples, func(s sample) uint64 { return countersOf(s, name).Hits })
	misses := increase(samples, func(s sample) uint64 { return countersOf(s, name).Misses })
	return share(hits, hits+misses)
}

// share is part/whole in percent, or nil when whole is 0.
func share(part, whole uint64) *float64 {
	if whole == 0 {
		return nil
	}
	p := float64(part) / float64(whole) * 100
	return &p
}

// histogramIncrease is what a histogram gained over samples, bucket by
// bucket, a reset read as for counters.
func histogramIncrease(samples []sample, get func(sample) aside.Histogram) aside.Histogram {
	var sum aside.Histogram
	for i := 1; i < len(samples); i++ {
		a, b := get(samples[i-1]), get(samples[i])
		if b.Count < a.Count {
			a = aside.Histogram{}
		}
		sum.Count += b.Count - a.Count
		for j := range sum.Buckets {
			sum.Buckets[j] += b.Buckets[j] - a.Buckets[j]
		}
	}
	return sum
}

// summarize returns a histogram's count and its 50th, 90th and 99th
// percentiles.
func summarize(bounds [16]float64, h aside.Histogram) summary {
	return summary{Count: h.Count, P50: quantile(0.5, bounds, h), P90: quantile(0.9, bounds, h), P99: quantile(0.99, bounds, h)}
}

// quantile estimates the q-quantile of a histogram's durations,
// interpolating linearly within a bucket as Prometheus's
// histogram_quantile does; one past the last bound is the last bound. It
// is nil for an empty histogram.
func quantile(q float64, bounds [16]float64, h aside.Histogram) *float64 {
	if h.Count == 0 {
		return nil
	}
	rank := q * float64(h.Count)
	lower, below := 0.0, 0.0
	for i, bound := range bounds {
		in := float64(h.Buckets[i])
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
