package monitor

import (
	"context"
	"sync"
	"time"
)

// Wrong admin tokens are answered at most one per failureInterval across
// the process (10 a second, against about 9,200 a second unslowed), none
// after more than maxFailureWait. The right token never waits: the gate
// slows guesses, it never locks the admin out.
const (
	failureInterval = 100 * time.Millisecond
	maxFailureWait  = 2 * time.Second
)

// failureGate spaces out the answers to wrong tokens. Each failure takes
// the next free slot, at least failureInterval after it arrives and after
// the slot before it, and is answered then. When the slots are taken for
// longer than maxFailureWait ahead, a failure waits maxFailureWait without
// taking one: a flood costs its sender a connection held that long per
// guess, and cannot push the slots, and so the wait, further out. A zero
// failureGate is ready for use.
type failureGate struct {
	mu   sync.Mutex
	next time.Time // guarded by mu: the earliest free slot
}

// delay reserves the slot of a failure that arrives at now and returns how
// long it waits for it.
func (g *failureGate) delay(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot := now.Add(failureInterval)
	if g.next.After(slot) {
		slot = g.next
	}
	wait := slot.Sub(now)
	if wait > maxFailureWait {
		return maxFailureWait
	}
	g.next = slot.Add(failureInterval)
	return wait
}

// wait holds a failure until its slot, or until ctx ends (the client left:
// it hears nothing either way).
func (g *failureGate) wait(ctx context.Context) {
	t := time.NewTimer(g.delay(time.Now()))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
