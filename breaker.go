package aside

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerState is the state of a Cache's circuit breaker.
type BreakerState string

// The states a breaker reports. BreakerNone is the state of a Cache on an
// in-process store, which cannot fail and has no breaker.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerHalfOpen BreakerState = "half-open"
	BreakerOpen     BreakerState = "open"
	BreakerNone     BreakerState = "none"
)

// errCallerGone reports a store call cut short by its caller's context: the
// store did nothing wrong, so the breaker must not count it.
var errCallerGone = errors.New("aside: caller gone")

// breaker keeps a failing store out of use. It is one gobreaker shared by
// every call of a Cache: a breaker made per call never sees the failures
// in a row that open it. Open, it refuses calls at once; after the cooldown it lets one
// probe through, and a probe that succeeds closes it.
//
// The probe is a harmless read of its own, not a caller's call, and the
// breaker keeps calls out for recoveryHold more after it: every other
// process that kept invalidations during the outage replays them within
// replayInterval of the store answering, so this one's first read after
// an outage comes after those replays, never before (see CONSISTENCY.md).
//
// gobreaker takes a mutex and reads the clock twice per call; with 64
// goroutines on 2 cores that cost about half a microsecond a call, a tenth
// of a Redis round trip. So while the breaker is closed and the last call
// succeeded, calls bypass gobreaker: a success there changes nothing
// gobreaker would act on (it trips on consecutive failures only). The
// first failure goes through gobreaker and turns the fast path off until a
// success under gobreaker's eye turns it back on.
type breaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	healthy atomic.Bool // closed, and no failure since the last success
	trips   atomic.Uint64
	// recovered is when the last probe succeeded (ns since epoch): calls
	// stay out until recoveryHold after it.
	recovered atomic.Int64

	// slow orders the two moves of healthy that read gobreaker's state: a
	// fast-path failure turning it off and a success turning it back on.
	// Without it a success could turn the fast path on over a failure
	// that landed between its reading and its writing.
	slow sync.Mutex
}

func newBreaker(o BreakerOptions, log *slog.Logger) *breaker {
	b := &breaker{}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:    "aside-store",
		Timeout: o.Cooldown,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= o.ConsecutiveFailures
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			level := slog.LevelInfo
			switch {
			case to == gobreaker.StateOpen:
				b.trips.Add(1)
				b.healthy.Store(false)
				level = slog.LevelWarn
			case from == gobreaker.StateHalfOpen && to == gobreaker.StateClosed:
				b.recovered.Store(int64(time.Since(epoch)))
			}
			log.Log(context.Background(), level, "aside: circuit breaker changed state",
				"from", from.String(), "to", to.String())
		},
	})
	b.healthy.Store(true)
	return b
}

// recoveryHold is how long a breaker that has just closed keeps calls out:
// two rounds of every process's replay of its pending invalidations.
const recoveryHold = 2 * replayInterval

// call reports the outcome of a store call: on the fast path a success is
// nothing to report; anything else goes through gobreaker.
type call struct {
	b     *breaker
	done  func(error) // gobreaker's, or nil on the fast path
	probe bool        // the half-open breaker's probe: make it instead of the caller's call
}

// allow asks to make a store call. It returns the call to report the
// outcome to, or an error wrapping ErrUnavailable if the breaker refuses.
func (b *breaker) allow() (call, error) {
	if b.healthy.Load() {
		return call{b: b}, nil
	}
	if b.holding() {
		return call{}, errRecovering
	}
	done, err := b.cb.Allow()
	if err != nil {
		return call{}, fmt.Errorf("%w: circuit breaker %s", ErrUnavailable, b.cb.State())
	}
	// Half-open lets one call through at a time, this one: the state
	// cannot move before it reports.
	if b.cb.State() == gobreaker.StateHalfOpen {
		return call{b: b, done: done, probe: true}, nil
	}
	// A probe may have succeeded between the check above and Allow: the
	// hold has begun, and this call must wait it out like the others.
	if b.holding() {
		done(errCallerGone) // excluded from gobreaker's counts
		return call{}, errRecovering
	}
	return call{b: b, done: done}, nil
}

var errRecovering = fmt.Errorf("%w: circuit breaker recovering", ErrUnavailable)

// epoch is the origin of the breaker's monotonic times: a wall clock
// stepped back must not stretch a hold.
var epoch = time.Now()

// holding reports whether a breaker that has just closed still keeps
// calls out.
func (b *breaker) holding() bool {
	r := b.recovered.Load()
	return r != 0 && int64(time.Since(epoch)) < r+recoveryHold.Nanoseconds()
}

// report hands the outcome of a store call to the breaker. A call whose
// caller's context ended (cancelled, or past the caller's own deadline) is
// excluded from the counts: only the store's failures, its own timeout
// (OpTimeout) included, can open the breaker.
func (c call) report(ctx context.Context, err error) {
	if err != nil && (ctx.Err() != nil || errors.Is(err, errWalkPending) || errors.Is(err, errQuarantined) || errors.Is(err, errReconnected)) {
		err = errCallerGone // the caller's doing, or this process's walk or caution: not the store's
	}
	switch {
	case c.done == nil && err == nil:
		return // the fast path's success
	case c.done == nil && errors.Is(err, errCallerGone):
		return
	case c.done == nil:
		// A failure on the fast path: count it under gobreaker, which may
		// open, and leave the fast path until a success.
		c.b.slow.Lock()
		defer c.b.slow.Unlock()
		c.b.healthy.Store(false)
		if done, aerr := c.b.cb.Allow(); aerr == nil {
			done(err)
		}
		return
	}
	c.b.slow.Lock()
	defer c.b.slow.Unlock()
	c.done(err)
	if err == nil && c.b.cb.State() == gobreaker.StateClosed && c.b.cb.Counts().ConsecutiveFailures == 0 && !c.b.holding() {
		c.b.healthy.Store(true)
	}
}

// state is gobreaker's, except that a breaker holding calls out after its
// probe is still half-open.
func (b *breaker) state() BreakerState {
	switch b.cb.State() {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	if b.holding() {
		return BreakerHalfOpen
	}
	return BreakerClosed
}
