package aside_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// The stampede tests run this test binary again as other OS processes,
// each with a Cache and a Redis client of its own, configured by these
// environment variables.
const (
	childEnv        = "ASIDE_STAMPEDE_CHILD" // "read" or "hang"
	childRedis      = "ASIDE_STAMPEDE_REDIS"
	childPrefix     = "ASIDE_STAMPEDE_PREFIX"
	childGoroutines = "ASIDE_STAMPEDE_GOROUTINES"
	childLeaseTTL   = "ASIDE_STAMPEDE_LEASE_TTL"
)

// childReport is what a child process prints.
type childReport struct {
	OK, Failed int
	Err        string
	Stats      aside.Stats // the process's figures, to tell why a test failed
}

// stampedeChild is the other process. "read": wait for the start signal,
// then read one cold key from many goroutines, each loader call counted in
// Redis. "hang": take the key's lease and never return from the loader.
func stampedeChild() int {
	if os.Getenv(childEnv) == "history" {
		return historyChild()
	}
	addr, prefix := os.Getenv(childRedis), os.Getenv(childPrefix)
	n, _ := strconv.Atoi(os.Getenv(childGoroutines))
	leaseTTL, _ := time.ParseDuration(os.Getenv(childLeaseTTL))
	report := func(r childReport) int {
		json.NewEncoder(os.Stdout).Encode(r)
		return 0
	}
	store, err := redisstore.New(redisstore.Options{Addrs: []string{addr}})
	if err != nil {
		return report(childReport{Err: err.Error()})
	}
	// A store call that times out is a failure, and a read that cannot
	// reach the store loads without a lease (availability first). The
	// test is of the leases, not of timeouts: on a loaded CI machine 100
	// ms is not enough for 1,000 goroutines' first calls.
	c, err := aside.New(store, aside.Options{KeyPrefix: prefix, LeaseTTL: leaseTTL, OpTimeout: 5 * time.Second})
	if err != nil {
		return report(childReport{Err: err.Error()})
	}
	defer c.Close()
	ctx := context.Background()
	if os.Getenv(childEnv) == "hang" {
		aside.GetOrSet(ctx, c, "cold", time.Hour, func(context.Context) (string, error) {
			redistest.Do(addr, "SET", prefix+"loading", "1")
			select {} // killed here
		})
		return 1
	}
	redistest.Do(addr, "INCR", prefix+"ready")
	for {
		if v, _ := redistest.Do(addr, "EXISTS", prefix+"start"); v == "1" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	load := func(context.Context) (string, error) {
		redistest.Do(addr, "INCR", prefix+"loads")
		time.Sleep(50 * time.Millisecond) // a query slow enough for everyone to miss
		return "the value", nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var r childReport
	for range n {
		wg.Go(func() {
			v, err := aside.GetOrSet(ctx, c, "cold", time.Hour, load)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || v != "the value" {
				r.Failed++
				r.Err = fmt.Sprint(v, err)
				return
			}
			r.OK++
		})
	}
	wg.Wait()
	r.Stats = c.Stats()
	return report(r)
}

func child(t *testing.T, mode, addr, prefix string, goroutines int, leaseTTL time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childRedis+"="+addr, childPrefix+"="+prefix,
		childGoroutines+"="+strconv.Itoa(goroutines), childLeaseTTL+"="+leaseTTL.String())
	cmd.Stderr = os.Stderr
	return cmd
}

// Four processes of 250 goroutines each miss one cold key together: the
// loader runs once in all.
func TestStampedeAcrossProcesses(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	const processes, goroutines = 4, 250
	type result struct {
		out []byte
		err error
	}
	results := make(chan result, processes)
	for range processes {
		cmd := child(t, "read", srv.Addr, prefix, goroutines, 10*time.Second)
		go func() {
			out, err := cmd.Output()
			results <- result{out, err}
		}()
	}
	waitFor(t, "the processes to be ready", func() bool {
		v, _ := redistest.Do(srv.Addr, "GET", prefix+"ready")
		return v == strconv.Itoa(processes)
	})
	redistest.Do(srv.Addr, "SET", prefix+"start", "1")
	var figures []string
	for range processes {
		res := <-results
		var r childReport
		if res.err != nil || json.Unmarshal(res.out, &r) != nil || r.OK != goroutines || r.Failed != 0 {
			t.Errorf("a process reported %s (%v); want %d reads of the value", res.out, res.err, goroutines)
		}
		figures = append(figures, fmt.Sprintf("loads %d, lease waits %d, errors %d, bypassed %d, breaker %s",
			r.Stats.Loads, r.Stats.LeaseWaits, r.Stats.Errors, r.Stats.Bypassed, r.Stats.Breaker))
	}
	if loads, _ := redistest.Do(srv.Addr, "GET", prefix+"loads"); loads != "1" {
		t.Errorf("loader calls across %d processes x %d goroutines = %s; want 1; the processes: %q", processes, goroutines, loads, figures)
	}
}

// The lease holder is killed mid-load: the key is loaded again once its
// lease expires, by a reader that waited for it.
func TestStampedeHolderKilled(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	const leaseTTL = 500 * time.Millisecond
	holder := child(t, "hang", srv.Addr, prefix, 1, leaseTTL)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	waitFor(t, "the holder to start loading", func() bool {
		v, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"loading")
		return v == "1"
	})
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.Wait()
	killed := time.Now()

	// A generous OpTimeout, as in the children: a timed-out lease read
	// would load without waiting, and this test is of the wait.
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, LeaseTTL: leaseTTL, OpTimeout: 5 * time.Second})
	loader := &counter[string]{value: "loaded again"}
	got, err := aside.GetOrSet(context.Background(), c, "cold", time.Hour, loader.load)
	took := time.Since(killed)
	if err != nil || got != "loaded again" || loader.calls.Load() != 1 {
		t.Fatalf("read after the holder died = %q, %v, %d loads; want one load of its own", got, err, loader.calls.Load())
	}
	// Within the lease's life plus one poll (at most 50 ms) and scheduling.
	if took > leaseTTL+time.Second {
		t.Errorf("the key was loaded again %v after the holder died; want within the lease (%v) plus a retry", took, leaseTTL)
	}
	if st := c.Stats(); st.LeaseWaits != 1 || st.Sets != 1 {
		t.Errorf("lease waits %d, sets %d; want 1 and 1 (it waited, then filled)", st.LeaseWaits, st.Sets)
	}
}
