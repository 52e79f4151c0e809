package aside_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
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
		"Jitter NaN":       {Name: "nan", TTL: time.Hour, Jitter: math.NaN()},
		"EarlyRefresh NaN": {Name: "nan", TTL: time.Hour, EarlyRefresh: math.NaN()},
	} {
		if _, err := aside.NewNamespace[string](c, cfg); err == nil {
			t.Errorf("NewNamespace(%s) = no error; want one", name)
		}
	}
}
