package aside_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// A flush is found by the cache's own mark key, whatever the server's
// statistics say: a CONFIG RESETSTAT right after the flush (an operator's
// "start afresh" script) brought the flush counts of INFO commandstats,
// which found flushes before, back to what the last check saw; the flush
// was never found, the tombstones never came back, and a warm-up of rows
// read before a's invalidation (which Warm refuses for LeaseTTL, 10 s)
// wrote them.
func TestAFlushIsFoundWhateverTheServersStatistics(t *testing.T) {
	for _, resetstat := range []bool{false, true} {
		name := "flush alone (control)"
		if resetstat {
			name = "flush then CONFIG RESETSTAT"
		}
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			r := newRewindRig(t, srv.Addr, 20, aside.Options{})
			r.fill(t)
			time.Sleep(600 * time.Millisecond) // both have read the epoch
			old := maps.Clone(r.db.v)          // b's warm-up reads its rows
			r.write(t)
			if _, err := redistest.Do(srv.Addr, "FLUSHALL"); err != nil {
				t.Fatal(err)
			}
			if resetstat {
				if _, err := redistest.Do(srv.Addr, "CONFIG", "RESETSTAT"); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(1500 * time.Millisecond) // past the 500 ms check and the quarantine
			written, err := r.nb.Warm(context.Background(), maps.All(old))
			if err != nil {
				t.Fatal(err)
			}
			reads, stale, first, _ := r.readFor(500 * time.Millisecond)
			t.Logf("rewinds a=%d b=%d; b's warm-up (rows read before a's invalidation, 2 s before) wrote %d; %d of %d reads stale",
				r.a.Stats().Rewinds, r.b.Stats().Rewinds, written, stale, reads)
			if stale > 0 {
				t.Errorf("%d of %d reads were stale after a flush and a warm-up of rows read before the invalidation (within LeaseTTL of it); first: %s", stale, reads, first)
			}
		})
	}
}
