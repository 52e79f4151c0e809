package aside

import (
	"slices"
	"sync"
	"time"
)

// nearLagBounds are the upper bounds, in seconds, of the buckets of
// NearStats.Lag: from 50 µs (a push on loopback) to 5 s.
var nearLagBounds = [loadBuckets]float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

// NearLagBounds returns the upper bounds, in seconds, of the buckets of
// NearStats.Lag, then +Inf.
func NearLagBounds() [16]float64 { return nearLagBounds }

// lagSampler measures how long the store takes to tell this process of
// its own writes: from just before a write is sent to the push that names
// its key. Every process is told by the same pushes, so it is the lag
// another process's near cache has, measured from the write's start: an
// upper bound of the time from its acknowledgement. At most
// maxLagSamples writes are awaited at once; a write whose push never
// comes (it failed) is given up after lagSampleLife.
type lagSampler struct {
	mu      sync.Mutex
	waiting map[string]time.Time // guarded by mu: key → when its write was sent
	buckets [loadBuckets + 1]uint64
	sum     time.Duration
}

const (
	maxLagSamples = 64
	lagSampleLife = 10 * time.Second
)

// wrote notes that a write of full is being sent at now.
func (l *lagSampler) wrote(full string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiting == nil {
		l.waiting = make(map[string]time.Time, maxLagSamples)
	}
	if len(l.waiting) >= maxLagSamples {
		for k, at := range l.waiting {
			if now.Sub(at) > lagSampleLife {
				delete(l.waiting, k)
			}
		}
		if len(l.waiting) >= maxLagSamples {
			return
		}
	}
	if _, ok := l.waiting[full]; !ok {
		l.waiting[full] = now
	}
}

// told records the lag of a write of full awaited, told at now.
func (l *lagSampler) told(full string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.waiting[full]
	if !ok {
		return
	}
	delete(l.waiting, full)
	d := now.Sub(at)
	i, _ := slices.BinarySearch(nearLagBounds[:], d.Seconds())
	l.buckets[i]++
	l.sum += d
}

func (l *lagSampler) snapshot() Histogram {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := Histogram{Sum: l.sum.Seconds()}
	var cumulative uint64
	for i := range h.Buckets {
		cumulative += l.buckets[i]
		h.Buckets[i] = cumulative
	}
	h.Count = cumulative + l.buckets[loadBuckets]
	return h
}
