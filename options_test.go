package aside_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// Bad option values give clear errors, never panics later: a HolderTimeout
// of a few nanoseconds (its holder renews every third of it: a ticker of
// 0 panics on the load's goroutine), a LeaseTTL that makes the default
// HolderTimeout as short, and NaN, which slips through every "below 1" and
// "not negative" comparison (a NaN Jitter made every entry live 1 ms and
// the journal remember nothing).
func TestBadOptionsAreRefused(t *testing.T) {
	for name, o := range map[string]aside.Options{
		"HolderTimeout 2ns":   {HolderTimeout: 2},
		"LeaseTTL 1ms":        {LeaseTTL: time.Millisecond},
		"Jitter NaN":          {Jitter: math.NaN()},
		"EarlyRefresh NaN":    {EarlyRefresh: math.NaN()},
		"HolderTimeout>Lease": {HolderTimeout: time.Minute},
		"OpTimeout 1h":        {OpTimeout: time.Hour},
		"LoadTimeout>Lease":   {LoadTimeout: time.Minute},
		"LeaseTTL 2h":         {LeaseTTL: 2 * time.Hour},
	} {
		c, err := aside.New(newMemstore(t), o)
		if err == nil {
			c.Close()
			t.Errorf("aside.New(%s) = no error; want one", name)
		} else if !strings.HasPrefix(err.Error(), "aside: ") {
			t.Errorf("aside.New(%s) = %v; want an error that says it is aside's", name, err)
		}
	}
	c := newCache(t, newMemstore(t), aside.Options{})
	for name, cfg := range map[string]aside.NamespaceConfig{
		"Jitter NaN":        {Name: "nan", TTL: time.Hour, Jitter: math.NaN()},
		"EarlyRefresh NaN":  {Name: "nan", TTL: time.Hour, EarlyRefresh: math.NaN()},
		"LoadTimeout>Lease": {Name: "slow", TTL: time.Hour, LoadTimeout: time.Minute},
	} {
		if _, err := aside.NewNamespace[string](c, cfg); err == nil {
			t.Errorf("NewNamespace(%s) = no error; want one", name)
		}
	}
}

// The defaults a service runs on: a caller with no deadline of its own
// waits 5 s at most on a hung database (it waited 30).
func TestDefaultsBoundAHungLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := aside.New(s, aside.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		_, err = aside.GetOrSet(context.Background(), c, "k", time.Hour, func(ctx context.Context) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		})
		if took := time.Since(start); !errors.Is(err, aside.ErrLoadTimeout) || took != aside.DefaultLoadTimeout {
			t.Errorf("a hung loader under the defaults = %v after %v; want ErrLoadTimeout after DefaultLoadTimeout (%v)", err, took, aside.DefaultLoadTimeout)
		}
	})
}
