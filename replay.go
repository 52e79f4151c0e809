package aside

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aside-cache/aside/internal/glob"
)

// replayInterval is how often pending invalidations are retried while the
// store is away: sooner than a breaker's cooldown, so that other processes
// do not read the entries before they are gone. A new deferral brings the
// next try forward, to no sooner than replaySpacing after the last: the
// breaker may be open on a store that answers again, and the sooner the
// replay, the shorter the time other processes can read what it removes.
const (
	replayInterval = 50 * time.Millisecond
	replaySpacing  = 5 * time.Millisecond
)

// pending holds the invalidations that could not reach the store,
// deduplicated by key and bounded: past its bound, a namespace's pending
// keys give way to one pattern delete of the whole namespace (and keys
// under no namespace, to a Clear), which removes every entry they could
// have named.
type pending struct {
	max int

	mu       sync.Mutex          // guards keys, patterns and seq
	keys     map[string]deferral // full key → its deferral
	patterns map[string]deferral // full glob pattern → its deferral
	seq      uint64              // numbers deferrals, so a replay forgets only what it sent
	size     atomic.Int64        // len(keys) + len(patterns): read on every store call
	walks    atomic.Int64        // len(patterns)

	// replaying holds a token while a replay runs: one at a time. A store
	// call that finds one running waits for it no longer than its own
	// OpTimeout, so a slow store never queues callers behind each other.
	replaying chan struct{}
	kick      chan struct{} // a deferral wakes the replay loop (buffer of 1)
}

// resized publishes the sizes of keys and patterns; p.mu is held.
func (p *pending) resized() {
	p.size.Store(int64(len(p.keys) + len(p.patterns)))
	p.walks.Store(int64(len(p.patterns)))
}

// kicked wakes the replay loop, unless it is awake already.
func (p *pending) kicked() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// errReplayPending is a store call's failure when the replay it must wait
// for did not end within the call's OpTimeout: the store is slow, and the
// breaker counts it so.
var errReplayPending = errors.New("aside: pending invalidations are still being replayed")

// errWalkPending refuses a store call while a pattern delete waits for its
// walk, which can take seconds on a healthy store. Like an open breaker's
// refusal, it sends a read to its loader (counted as bypassed) and is not
// the store's failure.
var errWalkPending = fmt.Errorf("%w: a pattern delete is still being replayed", ErrUnavailable)

// deferral is one pending invalidation: the namespace that counts it, and
// its number. An invalidation deferred again while a replay of the same
// key is in flight gets a new number, so that the replay's completion does
// not forget it.
type deferral struct {
	st  *counters
	seq uint64
}

// init sets the bound and makes the channels.
func (p *pending) init(bound int) {
	p.max = bound
	p.replaying = make(chan struct{}, 1)
	p.kick = make(chan struct{}, 1)
}

// add keeps full keys of the namespace sc (sc.prefix "" for keys under no
// namespace).
func (p *pending) add(b *remoteBackend, sc scope, full []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.made()
	for _, k := range full {
		p.seq++
		p.keys[k] = deferral{st: sc.c, seq: p.seq}
	}
	if len(p.keys) > p.max {
		// The pattern removes every key under the namespace's prefix: only
		// those keys give way to it, whichever namespace counts them.
		under := b.keyPrefix + sc.prefix
		pattern := glob.Quote(under) + "*"
		for k := range p.keys {
			if strings.HasPrefix(k, under) {
				delete(p.keys, k)
			}
		}
		p.keepPattern(sc.c, pattern)
		b.log.Warn("aside: too many invalidations pending; the namespace will be cleared when the store answers",
			"pattern", pattern, "bound", p.max)
	}
	p.resized()
	p.kicked()
}

// addPattern keeps a pattern delete (full glob pattern) that did not
// complete, counted in st.
func (p *pending) addPattern(st *counters, pattern string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.made()
	p.keepPattern(st, pattern)
	p.resized()
	p.kicked()
}

// restore makes pending again invalidations the store took before its
// data went back in time (rewind.go), past the bound: the journal bounds
// them.
func (p *pending) restore(keys, patterns []remembered) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.made()
	for _, r := range keys {
		p.seq++
		p.keys[r.key] = deferral{st: r.sc.c, seq: p.seq}
	}
	for _, r := range patterns {
		p.keepPattern(r.sc.c, r.key)
	}
	p.resized()
	p.kicked()
}

// made makes the maps on first use; p.mu is held.
func (p *pending) made() {
	if p.keys == nil {
		p.keys, p.patterns = make(map[string]deferral), make(map[string]deferral)
	}
}

// keepPattern numbers and keeps a pattern delete; p.mu is held.
func (p *pending) keepPattern(st *counters, pattern string) {
	p.seq++
	p.patterns[pattern] = deferral{st: st, seq: p.seq}
}

// replay sends the pending invalidations to the store, bypassing the
// breaker (a replay is itself a probe): the keys, and with walk the
// pattern deletes too. It returns nil when none of those remain. It waits
// for a replay already running until wait is done.
func (b *remoteBackend) replay(ctx, wait context.Context, walk bool) error {
	p := &b.pending
	select {
	case p.replaying <- struct{}{}:
	case <-wait.Done():
		return errReplayPending
	}
	defer func() { <-p.replaying }()
	if p.size.Load() == 0 {
		return nil // the replay waited for sent everything
	}
	keys, patterns := p.snapshot(walk)
	for pat, d := range patterns {
		n, err := walkKeys(ctx, direct{b}, pat)
		d.st.deletes.Add(uint64(n))
		if err != nil {
			return fmt.Errorf("aside: replay %q: %w", pat, err)
		}
		d.st.invalidationsReplayed.Add(1)
		p.done(p.patterns, pat, d.seq)
	}
	return b.replayKeys(ctx, keys)
}

// snapshot copies what is pending: the keys, and with walk the patterns.
func (p *pending) snapshot(walk bool) (keys, patterns map[string]deferral) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys = maps.Clone(p.keys)
	if walk {
		patterns = maps.Clone(p.patterns)
	}
	return keys, patterns
}

// replayKeys writes the tombstones of keys, a batch per round trip.
func (b *remoteBackend) replayKeys(ctx context.Context, keys map[string]deferral) error {
	batch := make([]Item, 0, warmBatch)
	ds := make([]deferral, 0, warmBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err // Close: the rest stays pending
		}
		prior, err := b.replace(ctx, batch)
		b.answered(ctx, err)
		if err != nil {
			return fmt.Errorf("aside: replay invalidations: %w", err)
		}
		for i, it := range batch {
			ds[i].st.deletes.Add(uint64(countEntries(prior[i : i+1])))
			ds[i].st.invalidationsReplayed.Add(1)
			b.pending.done(b.pending.keys, it.Key, ds[i].seq)
		}
		batch, ds = batch[:0], ds[:0]
		return nil
	}
	for k, d := range keys {
		batch, ds = append(batch, Item{Key: k, Value: tombstone, TTL: b.leaseTTL}), append(ds, d)
		if len(batch) == warmBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// done forgets a replayed key or pattern of set, unless it was deferred
// again since the replay read it (a newer number).
func (p *pending) done(set map[string]deferral, name string, seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := set[name]; ok && d.seq == seq {
		delete(set, name)
	}
	p.resized()
}

// replayBeforeUse replays pending invalidations before a store call: a
// read must never find an entry an invalidation was meant to remove. Keys
// are replayed here, in a round trip per batch; a pattern delete's walk
// can take seconds, so while one is pending the call is refused (a read
// answers from its loader) and the replay loop walks it.
func (b *remoteBackend) replayBeforeUse(ctx context.Context) error {
	p := &b.pending
	switch {
	case p.size.Load() == 0:
		return nil
	case p.walks.Load() > 0:
		p.kicked()
		return errWalkPending
	}
	return b.replay(ctx, b.timer.bound(ctx), false)
}

// replayLoop retries pending invalidations in the background until Close,
// so that they reach the store soon after it answers again, whether or not
// this process reads.
func (b *remoteBackend) replayLoop() {
	defer b.loops.Done()
	t := time.NewTicker(replayInterval)
	defer t.Stop()
	failed := false
	for {
		kick := b.pending.kick
		if failed {
			kick = nil // a store that failed the last replay is tried at the interval
		}
		select {
		case <-b.closing.Done():
			return
		case <-t.C:
		case <-kick:
		}
		failed = false
		if b.pending.size.Load() > 0 {
			err := b.replay(b.closing, b.closing, true)
			failed = err != nil
			if err == nil {
				b.log.Info("aside: pending invalidations replayed")
			}
		}
		select { // a store that fails at once is not retried in a hot loop
		case <-b.closing.Done():
			return
		case <-time.After(replaySpacing):
		}
	}
}
