package aside_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

// Close while a read waits on another process's lease ends the read with
// ErrClosed; its loader is never called.
func TestCloseEndsAReadWaitingOnALease(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		prefix := uniquePrefix(t)
		holder := newCache(t, s, aside.Options{KeyPrefix: prefix})
		waiter, err := aside.New(s, aside.Options{KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		hold := newGate(func() (string, error) { return "holder's", nil })
		defer close(hold.release)
		go aside.GetOrSet(ctx, holder, "k", time.Hour, hold.load)
		<-hold.called
		loader := &counter[string]{value: "waiter's"}
		got := make(chan error, 1)
		go func() {
			_, err := aside.GetOrSet(ctx, waiter, "k", time.Hour, loader.load)
			got <- err
		}()
		waitFor(t, "the read to wait on the lease", func() bool { return waiter.Stats().LeaseWaits == 1 })
		waiter.Close() // and closes the store both share: the holder's fill then fails
		if err := <-got; !errors.Is(err, aside.ErrClosed) {
			t.Errorf("read waiting on a lease at Close = %v; want ErrClosed", err)
		}
		if n := loader.calls.Load(); n != 0 {
			t.Errorf("the waiting read's loader ran %d times after Close; want 0", n)
		}
	})
}

func TestCloseStopsLoadsAndRefusesCalls(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, err := aside.New(s, aside.Options{KeyPrefix: uniquePrefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		result := make(chan error, 1)
		go func() {
			_, err := aside.GetOrSet(context.Background(), c, "k", time.Hour, func(ctx context.Context) (int, error) {
				close(started)
				<-ctx.Done() // Close must end the load
				return 0, ctx.Err()
			})
			result <- err
		}()
		<-started
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-result; !errors.Is(err, context.Canceled) {
			t.Errorf("load in flight at Close ended with %v; want context.Canceled", err)
		}
		if _, err := aside.GetOrSet(context.Background(), c, "k", time.Hour, (&counter[int]{}).load); !errors.Is(err, aside.ErrClosed) {
			t.Errorf("GetOrSet after Close = %v; want ErrClosed", err)
		}
		if _, err := c.Delete(context.Background(), "k"); !errors.Is(err, aside.ErrClosed) {
			t.Errorf("Delete after Close = %v; want ErrClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close = %v; want nil", err)
		}
	})
}
