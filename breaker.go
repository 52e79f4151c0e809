package aside

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// breakerWindow is the closed-state window over which FailureRatio is
// measured, and breakerMinCalls the calls it must hold before the ratio counts.
const (
	breakerWindow   = 10 * time.Second
	breakerMinCalls = 20
)

// breaker keeps a failing store out of use. It is one gobreaker shared by
// every call of a Cache (the original built one per call, so it never
// opened). Open, it refuses calls at once; after the cooldown it lets one
// probe through, and a probe that succeeds closes it.
type breaker struct {
	cb    *gobreaker.TwoStepCircuitBreaker[struct{}]
	trips atomic.Uint64
}

func newBreaker(o BreakerOptions, log *slog.Logger) *breaker {
	b := &breaker{}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:     "aside-store",
		Interval: breakerWindow,
		Timeout:  o.Cooldown,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			if n.ConsecutiveFailures >= o.ConsecutiveFailures {
				return true
			}
			return n.Requests >= breakerMinCalls &&
				float64(n.TotalFailures) >= o.FailureRatio*float64(n.Requests)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.trips.Add(1)
			}
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "aside: circuit breaker changed state",
				"from", from.String(), "to", to.String())
		},
	})
	return b
}

// allow asks to make a store call. It returns the function that reports the
// call's outcome, or an error wrapping ErrUnavailable if the breaker refuses.
func (b *breaker) allow() (func(error), error) {
	done, err := b.cb.Allow()
	if err != nil {
		return nil, fmt.Errorf("%w: circuit breaker %s", ErrUnavailable, b.cb.State())
	}
	return done, nil
}

// report hands the outcome of a store call to done. A call that failed
// because its caller's context ended is excluded from the counts.
func report(ctx context.Context, done func(error), err error) {
	if err != nil && ctx.Err() != nil {
		err = errCallerGone
	}
	done(err)
}

func (b *breaker) state() BreakerState {
	switch b.cb.State() {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}
