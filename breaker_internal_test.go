package aside

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// While the probe's success is being reported, callers racing through
// allow must not get in: the hold begins with the probe's success, and a
// caller that passed the first check before it must meet the second.
func TestNoCallGetsInDuringTheHold(t *testing.T) {
	for round := range 20 {
		b := newBreaker(BreakerOptions{ConsecutiveFailures: 1, Cooldown: time.Millisecond}, slog.New(slog.DiscardHandler))
		c, err := b.allow()
		if err != nil {
			t.Fatal(err)
		}
		c.report(context.Background(), errors.New("down")) // opens
		time.Sleep(2 * time.Millisecond)                   // past the cooldown: the next allow probes

		var (
			start  = make(chan struct{})
			wg     sync.WaitGroup
			inside atomic.Int64 // callers let in, not as the probe, during the hold
			probes atomic.Int64
		)
		for range 16 {
			wg.Go(func() {
				<-start
				for b.state() != BreakerClosed {
					c, err := b.allow()
					switch {
					case err != nil:
					case c.probe:
						probes.Add(1)
						c.report(context.Background(), nil) // the probe succeeds: the hold begins
					default:
						if b.holding() || b.state() != BreakerClosed {
							inside.Add(1)
						}
						c.report(context.Background(), nil)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if n := inside.Load(); n > 0 {
			t.Fatalf("round %d: %d calls got in during the hold after %d probes", round, n, probes.Load())
		}
	}
}
