package aside

import (
	"container/list"
	"sync"
	"time"

	"github.com/aside-cache/aside/internal/glob"
)

// journal remembers the invalidations (and writes) this process made on a
// remote store, for as long as an entry they replaced could still be
// alive somewhere Redis may bring it back from: a snapshot it restarts
// from, a replica that had not received them. When the store's data goes
// back in time (rewind.go), every invalidation still remembered is made
// again before the store is trusted.
//
// An entry filled at f with a life of at most L expires at f + L, where
// the snapshot keeps it too (Redis keeps expiry times absolute); an
// invalidation at i > f therefore matters only until i + L. So each key is
// remembered for its namespace's longest entry life (its TTL spread by
// the jitter, its stale period, and a lease's life for a fill over a
// tombstone), at most Window; keys under no namespace, whose TTL each
// call names, and pattern deletes, for Window.
//
// The journal is bounded by count. An invalidation forgotten for room
// while it still mattered marks its namespace: if the store goes back in
// time before the mark runs out, the whole namespace is cleared instead.
type journal struct {
	max      int
	window   time.Duration
	leaseTTL time.Duration // how long past its TTL a fill over a tombstone keeps its key
	prefix   string        // the cache's key prefix: what a namespace's pattern begins with

	mu    sync.Mutex                  // guards order, byID and lost
	order list.List                   // of *remembered, least recently remembered first
	byID  map[journalID]*list.Element // each key or pattern's element
	lost  map[*counters]lostNamespace // namespaces whose invalidations were forgotten while due
}

// journalID names what an invalidation was of: a key, or a pattern.
type journalID struct {
	key     string
	pattern bool
}

// remembered is one invalidation the journal keeps.
type remembered struct {
	key     string // a full key, or a full glob pattern
	pattern bool
	sc      *scope
	until   time.Time
}

// lostNamespace is a namespace some of whose invalidations the journal
// forgot while they mattered, until when the last of them did.
type lostNamespace struct {
	sc    *scope
	until time.Time
}

func newJournal(o Options) *journal {
	return &journal{max: o.Recovery.MaxKeys, window: o.Recovery.Window, leaseTTL: o.LeaseTTL, prefix: o.KeyPrefix,
		byID: make(map[journalID]*list.Element), lost: make(map[*counters]lostNamespace)}
}

// keys remembers invalidations of full keys of sc, made now.
func (j *journal) keys(sc *scope, full []string, now time.Time) {
	if j == nil {
		return
	}
	until := now.Add(j.retention(sc))
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, k := range full {
		j.put(remembered{key: k, sc: sc, until: until})
	}
	j.prune(now)
}

// pattern remembers a pattern delete (a full glob pattern), made now.
func (j *journal) pattern(sc *scope, pattern string, now time.Time) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.put(remembered{key: pattern, pattern: true, sc: sc, until: now.Add(j.window)})
	j.prune(now)
}

// put remembers r, as the most recent; j.mu is held.
func (j *journal) put(r remembered) {
	id := journalID{r.key, r.pattern}
	if e, ok := j.byID[id]; ok {
		old := e.Value.(*remembered)
		r.until = later(r.until, old.until)
		*old = r
		j.order.MoveToBack(e)
		return
	}
	j.byID[id] = j.order.PushBack(&r)
}

// prune forgets what no longer matters, and the least recent past the
// bound, marking its namespace; j.mu is held.
func (j *journal) prune(now time.Time) {
	for e := j.order.Front(); e != nil; e = j.order.Front() {
		r := e.Value.(*remembered)
		over := j.order.Len() > j.max
		if !over && r.until.After(now) {
			break
		}
		if over && r.until.After(now) {
			l := j.lost[r.sc.c]
			j.lost[r.sc.c] = lostNamespace{sc: r.sc, until: later(l.until, r.until)}
		}
		j.order.Remove(e)
		delete(j.byID, journalID{r.key, r.pattern})
	}
	for c, l := range j.lost {
		if !l.until.After(now) {
			delete(j.lost, c)
		}
	}
}

// recall returns what must be made again now: the keys and patterns still
// remembered, and the pattern of every namespace that lost some.
func (j *journal) recall(now time.Time) (keys []remembered, patterns []remembered) {
	if j == nil {
		return nil, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.prune(now)
	for e := j.order.Front(); e != nil; e = e.Next() {
		r := *e.Value.(*remembered)
		if r.pattern {
			patterns = append(patterns, r)
		} else {
			keys = append(keys, r)
		}
	}
	for _, l := range j.lost {
		patterns = append(patterns, remembered{key: glob.Quote(j.prefix+l.sc.prefix) + "*", pattern: true, sc: l.sc, until: l.until})
	}
	return keys, patterns
}

// size is how many invalidations the journal remembers.
func (j *journal) size() int {
	if j == nil {
		return 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.order.Len()
}

// retention is how long an invalidation of a key of sc matters: the
// longest life of an entry of its namespace, at most the window.
func (j *journal) retention(sc *scope) time.Duration {
	if sc.policy == nil {
		return j.window
	}
	return min(sc.policy.entryLife(j.leaseTTL), j.window)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
