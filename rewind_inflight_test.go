package aside_test

import (
	"context"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// A load in flight across a restart from a snapshot that holds its lease:
// b took the lease and read the row (version 1); a wrote version 2 and
// invalidated; Redis came back from a snapshot taken before, with b's
// lease; b's fill lands after. Nobody may read version 1 after 1 s.
func TestAFillFromBeforeARewindLandingAfterItIsNotServed(t *testing.T) {
	srv := redistest.Start(t)
	r := newRewindRig(t, srv.Addr, 1, aside.Options{})
	ctx := context.Background()
	id := r.ids[0]
	time.Sleep(600 * time.Millisecond) // both caches have read the epoch
	read := make(chan struct{})
	release := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		v, _ := r.nb.Get(ctx, id, func(context.Context) (int, error) {
			v := 1 // read before a's write
			close(read)
			<-release
			return v, nil
		})
		done <- v
	}()
	<-read
	if err := srv.Snapshot(); err != nil { // holds b's lease
		t.Fatal(err)
	}
	r.write(t)
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	r.mustHoldAfterASecond(t, "after a fill from before the restart", 2*time.Second)
}

// A FLUSHDB of another database number (another application's, or a test
// suite's, sharing the Redis) is no rewind of this one: the cache keeps
// serving from Redis. (It was one while flushes were found by Redis's
// counts of FLUSHDB: every process then kept off Redis for a second.)
func TestAFlushOfAnotherDatabaseIsNoRewind(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	ctx := context.Background()
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix})
	var loads atomic.Int64
	load := func(context.Context) (string, error) { loads.Add(1); return "v", nil }
	if _, err := aside.GetOrSet(ctx, c, "hot", time.Hour, load); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	loads.Store(0)
	port := srv.Addr[len("127.0.0.1:"):]
	if out, err := exec.Command("redis-cli", "-p", port, "-n", "9", "FLUSHDB").CombinedOutput(); err != nil {
		t.Fatalf("redis-cli: %v %s", err, out)
	}
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for start := time.Now(); time.Since(start) < time.Second; time.Sleep(time.Millisecond) {
				aside.GetOrSet(ctx, c, "hot", time.Hour, load)
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	if n := c.Stats().Rewinds; n != 0 || loads.Load() != 0 {
		t.Errorf("a FLUSHDB of database 9: %d rewinds, %d loader calls for %d reads of one cached key; want none", n, loads.Load(), reads.Load())
	}
}
