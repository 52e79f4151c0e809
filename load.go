package aside

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"
)

// loaded is the outcome of one loader call.
type loaded[T any] struct {
	v    T
	err  error
	took time.Duration
}

// loadWithSoftTimeout calls the loader, renewing what the load holds
// while it waits (renew.go). When a stale value can stand in and the
// policy has a soft timeout, the callers get the stale value once the soft
// timeout passes; the loader goes on, and its value still fills the key.
func (fr *flightRun[T]) loadWithSoftTimeout(ctx context.Context) loaded[T] {
	results := startLoader(ctx, fr.c, fr.p.loadTimeout, fr.load)
	var soft <-chan time.Time
	stale := fr.h.servable(fr.c.nowMs(), fr.p)
	if !fr.refresh && stale != nil && fr.p.softTimeout > 0 {
		t := time.NewTimer(fr.p.softTimeout)
		defer t.Stop()
		soft = t.C
	}
	r := fr.renewals()
	defer r.stop()
	for {
		select {
		case res := <-results:
			return res
		case <-r.tick():
			fr.renew(ctx, r)
		case <-soft:
			// The flight lands as it answers: callers that come later start
			// afresh (and find the key claimed, so they wait or serve stale).
			soft = nil
			fr.finish(fr.outcomeOf(stale).at(fr.vouch(ctx), true))
			fr.answered = true
		}
	}
}

// errGoexit is a load's error when its loader ended its goroutine.
var errGoexit = errors.New("aside: loader called runtime.Goexit")

// startLoader calls load on a goroutine of its own, under ctx (detached
// from the callers) bounded by timeout and cancelled by Close, and
// delivers its one outcome. The goroutine is the loader's alone, so that a
// loader that ends it (runtime.Goexit, as t.FailNow does) ends its load
// with errGoexit, never the flight that waits for it.
func startLoader[T any](ctx context.Context, c *Cache, timeout time.Duration, load func(context.Context) (T, error)) <-chan loaded[T] {
	out := make(chan loaded[T], 1)
	go func() {
		r := loaded[T]{err: errGoexit}
		defer func() { out <- r }()
		loadCtx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		stop := context.AfterFunc(c.closing, cancel)
		defer stop()
		if c.closing.Err() != nil {
			r.err = ErrClosed // Close began: no loader starts on a live context
			return
		}
		start := c.now()
		v, err := callLoader(loadCtx, load, c)
		if err != nil && errors.Is(loadCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil && c.closing.Err() == nil {
			err = fmt.Errorf("%w after %v: %w", ErrLoadTimeout, timeout, err) // the loader's own bound, not a caller's
		}
		r = loaded[T]{v: v, err: err, took: c.now().Sub(start)}
	}()
	return out
}

// waitError is a read's error when its caller stopped waiting.
func waitError(key string, err error) error {
	return fmt.Errorf("aside: waiting for %q: %w", key, err)
}

// callLoader calls load, turning a panic into an error: the load runs on a
// goroutine of ours, where a panic would take the whole process down.
func callLoader[T any](ctx context.Context, load func(context.Context) (T, error), c *Cache) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.opts.Logger.Error("aside: loader panicked", "panic", r, "stack", string(debug.Stack()))
			if e, ok := r.(error); ok {
				err = fmt.Errorf("aside: loader panicked: %w", e)
			} else {
				err = fmt.Errorf("aside: loader panicked: %v", r)
			}
		}
	}()
	return load(ctx)
}

// jitterRatio is a random factor in [1-j, 1+j].
func jitterRatio(j float64) float64 {
	if j <= 0 {
		return 1
	}
	return 1 + j*(2*rand.Float64()-1)
}

// jittered spreads ttl uniformly over ±j of it, between a millisecond and
// the longest duration there is.
func jittered(ttl time.Duration, j float64) time.Duration {
	d := float64(ttl) * jitterRatio(j)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return max(time.Duration(d), time.Millisecond)
}
