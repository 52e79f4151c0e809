package aside_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// The history checker. Writers update rows in a database and invalidate
// their keys; readers read the rows through two caches with Redis clients
// of their own, one of them in a second OS process; loaders take random
// time. Every operation is recorded with its start and end, and the
// checker asserts that no read that began after an invalidation took
// effect saw a value older than that invalidation's write. An invalidation
// takes effect when it returns; one deferred (ErrDeferred, the store
// unreachable) when its replay has run, as docs/CONSISTENCY.md states. The
// same checker, run on a naive get / load / set path, must find a
// violation: it can fail.
//
// It runs in two configurations (historyConfigs): an outage, where the
// private Redis is paused and resumed once mid-run; and fail-safe, where
// entries go stale every few dozen milliseconds, loaders fail a third of
// the time and often pass the soft timeout, so that both processes serve
// stale values, refresh in the background and throttle, all while the
// first process invalidates.

const (
	historyKeys     = 32
	historyDuration = 4 * time.Second
	historyEnvDB    = "ASIDE_HISTORY_DB"
	historyEnvRun   = "ASIDE_HISTORY_RUN"
	historyEnvMode  = "ASIDE_HISTORY_MODE"
)

// historyConfig is one configuration of the checker.
type historyConfig struct {
	ns       aside.NamespaceConfig
	failRate float64 // the share of loads that fail
	pause    bool    // Redis freezes once, early in the run
	near     bool    // both processes have a near cache: the second may read stale for up to historyMaxLag
}

// historyMaxLag is the near cache's MaxLag in the near configuration: the
// bound on how long after an invalidation returned the other process may
// still read the value before it.
const historyMaxLag = 100 * time.Millisecond

var historyConfigs = map[string]historyConfig{
	// Soft TTL short, so that entries refresh in the background many
	// times during a run; TTL longer than the run, so that entries cached
	// before Redis froze are still there when it answers again, and only
	// the replay of the invalidations it missed keeps them from being read.
	"outage": {
		ns:    aside.NamespaceConfig{Name: "rows", Prefix: "row:", TTL: 2 * historyDuration, SoftTTL: 200 * time.Millisecond},
		pause: true,
	},
	// Entries stale after 60 ms and served stale for an hour; loads of up
	// to 6 ms against a 2 ms soft timeout; a third of loads fail.
	"failsafe": {
		ns: aside.NamespaceConfig{Name: "rows", Prefix: "row:", TTL: 60 * time.Millisecond, SoftTTL: 30 * time.Millisecond,
			MaxStale: time.Hour, SoftTimeout: 2 * time.Millisecond, FailSafeThrottle: 20 * time.Millisecond},
		failRate: 1.0 / 3,
	},
	// Both processes with a near cache; soft TTL short, so that entries
	// kept in memory are refreshed in the background too.
	"near": {
		ns:   aside.NamespaceConfig{Name: "rows", Prefix: "row:", TTL: 2 * historyDuration, SoftTTL: 200 * time.Millisecond},
		near: true,
	},
}

// op is one recorded operation: a read (version seen) or a write (version
// committed, invalidation returned at End).
type op struct {
	Write   bool   `json:"write,omitempty"`
	Key     int    `json:"key"`
	Version int64  `json:"version"`
	Start   int64  `json:"start"` // Unix ns
	End     int64  `json:"end"`
	Child   bool   `json:"child,omitempty"` // read in the second process
	Err     string `json:"err,omitempty"`
	// Replayed is, for a deferred invalidation, when the writer's cache
	// was first seen with no invalidation pending after it returned: its
	// replay had run by then. 0: never seen.
	Replayed int64 `json:"replayed,omitempty"`
	// Stats, on the second process's last line only, are its figures.
	Stats *aside.Counters `json:"stats,omitempty"`
}

// effect is when a write's invalidation took effect, or 0 for never.
func (o op) effect() int64 {
	if o.Err != "" {
		return o.Replayed
	}
	return o.End
}

// history collects operations from many goroutines.
type history struct {
	mu  sync.Mutex
	ops []op
}

func (h *history) add(o op) { h.mu.Lock(); h.ops = append(h.ops, o); h.mu.Unlock() }

// violations checks a history: for every read, the newest write of its key
// whose invalidation returned before the read began must not be newer than
// what the read saw; for a read in the second process, the newest whose
// invalidation returned lag before it began (a near cache's bound). worst
// is how long after such an invalidation returned a read began that still
// saw the value before it: what the history shows of that bound.
func violations(ops []op, lag time.Duration) (bad []string, worst time.Duration) {
	bad, worst = staleReads(ops, lag)
	return bad, worst
}

// staleReads is violations' work.
func staleReads(ops []op, lag time.Duration) ([]string, time.Duration) {
	writes := map[int][]op{}
	for _, o := range ops {
		if o.Write && o.effect() != 0 {
			writes[o.Key] = append(writes[o.Key], o)
		}
	}
	for k := range writes {
		slices.SortFunc(writes[k], func(a, b op) int { return int(a.effect() - b.effect()) })
	}
	var bad []string
	var worst time.Duration
	for _, r := range ops {
		if r.Write || r.Err != "" {
			continue
		}
		allowed := int64(0)
		if r.Child {
			allowed = int64(lag)
		}
		var floor int64 // the newest version r must see at least
		var fw op
		for _, w := range writes[r.Key] {
			if w.effect() >= r.Start {
				break
			}
			if w.Version <= r.Version {
				continue
			}
			worst = max(worst, time.Duration(r.Start-w.effect()))
			if w.effect()+allowed < r.Start && w.Version > floor {
				floor, fw = w.Version, w
			}
		}
		if r.Version < floor {
			bad = append(bad, fmt.Sprintf("key %d: a read (child %v) saw version %d; version %d's write began %dus and its invalidation took effect %dus before the read, which took %dus (deferred: %q)",
				r.Key, r.Child, r.Version, floor, (r.Start-fw.Start)/1000, (r.Start-fw.effect())/1000, (r.End-r.Start)/1000, fw.Err))
		}
	}
	return bad, worst
}

// rows is the database of the run: each row's version in a Redis server
// of its own, never the cache's (which the outage pauses), that both
// processes open. INCR commits a new version and returns it; a GET that
// begins after the INCR returned reads it, as a database read after a
// commit does.
type rows struct{ c rueidis.Client }

func openRows(addr string) (*rows, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, err
	}
	return &rows{c: c}, nil
}

func rowKey(key int) string { return "row:" + strconv.Itoa(key) }

// version reads a row's committed version.
func (r *rows) version(ctx context.Context, key int) (int64, error) {
	return r.c.Do(ctx, r.c.B().Get().Key(rowKey(key)).Build()).AsInt64()
}

// bump commits a new version of a row and returns it.
func (r *rows) bump(key int) (int64, error) {
	return r.c.Do(context.Background(), r.c.B().Incr().Key(rowKey(key)).Build()).AsInt64()
}

// loader reads a row's version, with random time before and after, as a
// loaded database or network would take, and fails at failRate.
func loader(db *rows, key int, failRate float64) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		v, err := db.version(ctx, key)
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		if err == nil && rand.Float64() < failRate {
			return 0, errDBDown
		}
		return v, err
	}
}

// historyOptions are both processes' cache options. The breaker's short
// cooldown brings each process back to Redis soon after it answers again,
// in the window where another process's deferred invalidations are still
// to be replayed.
func historyOptions(prefix string, cfg historyConfig) aside.Options {
	return aside.Options{KeyPrefix: prefix, Breaker: aside.BreakerOptions{Cooldown: 100 * time.Millisecond},
		NearCache: aside.NearCacheOptions{Enabled: cfg.near, MaxLag: historyMaxLag}}
}

// read runs readers on ns until the deadline, recording into h.
func read(ns *aside.Namespace[int64], cfg historyConfig, db *rows, until time.Time, h *history) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(until) {
				key := rand.IntN(historyKeys)
				start := time.Now().UnixNano()
				v, err := ns.Get(context.Background(), fmt.Sprint(key), loader(db, key, cfg.failRate))
				o := op{Key: key, Version: v, Start: start, End: time.Now().UnixNano()}
				if err != nil {
					o.Err = err.Error()
				}
				h.add(o)
			}
		})
	}
	wg.Wait()
}

// historyChild is the second process: it reads through a cache of its own
// and prints its history as JSON lines, then its figures.
func historyChild() int {
	addr, prefix := os.Getenv(childRedis), os.Getenv(childPrefix)
	cfg := historyConfigs[os.Getenv(historyEnvMode)]
	start, _ := time.Parse(time.RFC3339Nano, os.Getenv(historyEnvRun))
	db, err := openRows(os.Getenv(historyEnvDB))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store, _ := redisstore.New(redisstore.Options{Addrs: []string{addr}})
	c, err := aside.New(store, historyOptions(prefix, cfg))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	ns, err := aside.NewNamespace[int64](c, cfg.ns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	time.Sleep(time.Until(start))
	h := &history{}
	read(ns, cfg, db, start.Add(historyDuration), h)
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	for _, o := range h.ops {
		o.Child = true
		enc.Encode(o)
	}
	stats := c.Stats().Counters
	enc.Encode(op{Stats: &stats})
	w.Flush()
	return 0
}

// setUpHistory starts the run's database, every row at version 1, and
// returns it with its address.
func setUpHistory(t *testing.T) (*rows, string) {
	t.Helper()
	srv := redistest.Start(t)
	db, err := openRows(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.c.Close)
	for k := range historyKeys {
		if err := db.c.Do(context.Background(), db.c.B().Set().Key(rowKey(k)).Value("1").Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	return db, srv.Addr
}

// write runs writers until the deadline: each commits a new version of a
// row, then invalidates its key with invalidate, recording when that
// returned.
func write(db *rows, writers int, until time.Time, h *history, invalidate func(key int) error) {
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for time.Now().Before(until) {
				key := rand.IntN(historyKeys)
				start := time.Now().UnixNano()
				v, err := db.bump(key)
				if err != nil {
					continue
				}
				o := op{Write: true, Key: key, Version: v, Start: start}
				if err := invalidate(key); err != nil {
					o.Err = err.Error() // deferred: it still counts, from when it returned
				}
				o.End = time.Now().UnixNano()
				h.add(o)
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			}
		})
	}
	wg.Wait()
}

func TestHistoryHasNoStaleReads(t *testing.T) { checkHistory(t, "outage") }

func TestHistoryHasNoStaleReadsWithFailSafe(t *testing.T) { checkHistory(t, "failsafe") }

// With near caches, the writer's process reads nothing stale, and the
// other reads nothing staler than MaxLag; the log says how stale it read.
func TestHistoryWithNearCachesIsStaleAtMostMaxLag(t *testing.T) { checkHistory(t, "near") }

// checkHistory runs the checker in one configuration.
func checkHistory(t *testing.T, mode string) {
	if testing.Short() {
		t.Skip("a 4 s randomized run")
	}
	cfg := historyConfigs[mode]
	srv := redistest.Start(t)
	db, path := setUpHistory(t)
	prefix := uniquePrefix(t)
	c := newCache(t, newRedisStore(t, srv.Addr), historyOptions(prefix, cfg))
	ns := newNamespace[int64](t, c, cfg.ns)

	start := time.Now().Add(300 * time.Millisecond) // time for the child to start
	until := start.Add(historyDuration)
	child := startHistoryChild(t, mode, srv.Addr, prefix, path, start)

	h := &history{}
	var wg sync.WaitGroup
	wg.Go(func() {
		time.Sleep(time.Until(start))
		read(ns, cfg, db, until, h)
	})
	wg.Go(func() {
		time.Sleep(time.Until(start))
		write(db, 2, until, h, func(key int) error { return ns.Invalidate(context.Background(), fmt.Sprint(key)) })
	})
	var drained []int64 // times the writer's cache was seen with nothing pending
	wg.Go(func() {
		for time.Now().Before(until.Add(time.Second)) {
			if c.Stats().PendingInvalidations == 0 {
				drained = append(drained, time.Now().UnixNano())
			}
			time.Sleep(200 * time.Microsecond)
		}
	})
	var paused, resumed int64
	if cfg.pause {
		// Redis freezes once, early in the run, so that most of it comes
		// after Redis answers again.
		wg.Go(func() {
			time.Sleep(time.Until(start) + historyDuration/5)
			paused = time.Now().UnixNano()
			srv.Pause()
			time.Sleep(400 * time.Millisecond)
			srv.Resume()
			resumed = time.Now().UnixNano()
		})
	}
	wg.Wait()
	childOps, childStats := child.wait(t)

	if n := markReplays(h.ops, drained); n > 0 {
		t.Errorf("%d deferred invalidations were still pending a second after the run", n)
	}
	ops := append(h.ops, childOps...)
	n := countHistory(ops)
	st := c.Stats()
	t.Logf("history (%s): %d reads (%d in the second process), %d writes (%d invalidations deferred), %d failed reads; stats %+v; the second process's %+v",
		mode, n.reads, n.childReads, n.writes, n.deferred, n.failed, st.Counters, childStats)
	if n.reads < 1000 || n.childReads < 100 || n.writes < 100 {
		t.Errorf("the run was too small to prove anything: %d reads (%d in the second process), %d writes", n.reads, n.childReads, n.writes)
	}
	if cfg.pause {
		if n.deferred == 0 || st.BreakerTrips == 0 || st.Breaker != aside.BreakerClosed || st.InvalidationsReplayed == 0 {
			t.Errorf("%d deferred, breaker %s after %d trips, %d invalidations replayed; want the pause to defer invalidations, open the breaker, the run to outlast its recovery, and replays",
				n.deferred, st.Breaker, st.BreakerTrips, st.InvalidationsReplayed)
		}
		if n.failed > 0 {
			t.Errorf("%d reads failed; the cache must answer every read while the database does", n.failed)
		}
	}
	if cfg.failRate > 0 && (st.StaleServed == 0 || childStats.StaleServed == 0 || st.FillsRejected+childStats.FillsRejected == 0) {
		t.Errorf("stale served %d and %d (second process), fills rejected %d and %d; want both processes to serve stale values and invalidations to void fills",
			st.StaleServed, childStats.StaleServed, st.FillsRejected, childStats.FillsRejected)
	}
	lag := time.Duration(0)
	if cfg.near {
		lag = historyMaxLag
	}
	bad, worst := violations(ops, lag)
	if cfg.near {
		t.Logf("history (near): the second process read a value at most %v after the invalidation of its successor returned (bound %v); near hits %d and %d (second process)",
			worst, lag, st.NearHits, childStats.NearHits)
		if st.NearHits == 0 || childStats.NearHits == 0 {
			t.Errorf("near hits %d and %d (second process); want both processes to read from memory", st.NearHits, childStats.NearHits)
		}
	}
	if len(bad) > 0 {
		t.Logf("paused at %d, resumed at %d, run from %d", paused, resumed, start.UnixNano())
		for _, b := range bad[:min(len(bad), 10)] {
			t.Log(b)
		}
		t.Errorf("%d stale reads, the first: %s", len(bad), bad[0])
	}
}

// historyProcess is the second process of a run, and its output.
type historyProcess struct {
	cmd     *exec.Cmd
	ops     []op
	stats   aside.Counters
	decoded chan struct{}
}

func startHistoryChild(t *testing.T, mode, addr, prefix, dbPath string, start time.Time) *historyProcess {
	t.Helper()
	p := &historyProcess{cmd: exec.Command(os.Args[0], "-test.run=^$"), decoded: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), childEnv+"=history", historyEnvMode+"="+mode, childRedis+"="+addr, childPrefix+"="+prefix,
		historyEnvDB+"="+dbPath, historyEnvRun+"="+start.Format(time.RFC3339Nano))
	p.cmd.Stderr = os.Stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.decoded)
		dec := json.NewDecoder(out)
		for {
			var o op
			if err := dec.Decode(&o); err != nil {
				return
			}
			if o.Stats != nil {
				p.stats = *o.Stats
				continue
			}
			p.ops = append(p.ops, o)
		}
	}()
	return p
}

// wait waits for the second process to end and returns what it read.
func (p *historyProcess) wait(t *testing.T) ([]op, aside.Counters) {
	t.Helper()
	<-p.decoded
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("the second process: %v", err)
	}
	return p.ops, p.stats
}

// markReplays sets, on each deferred write, when its replay had run: the
// first time after it returned that the writer's cache had nothing
// pending. It returns how many were never seen replayed.
func markReplays(ops []op, drained []int64) (unreplayed int) {
	for i, o := range ops {
		if o.Write && o.Err != "" {
			if j, _ := slices.BinarySearch(drained, o.End); j < len(drained) {
				ops[i].Replayed = drained[j]
			} else {
				unreplayed++
			}
		}
	}
	return unreplayed
}

// historyCounts sums a history up.
type historyCounts struct{ reads, childReads, writes, deferred, failed int }

func countHistory(ops []op) (n historyCounts) {
	for _, o := range ops {
		switch {
		case o.Write && o.Err != "":
			n.deferred++
			n.writes++
		case o.Write:
			n.writes++
		case o.Err != "":
			n.failed++
		default:
			n.reads++
			if o.Child {
				n.childReads++
			}
		}
	}
	return n
}

// TestHistoryCheckerCatchesTheNaivePath runs the same workload on the
// classic get / load / set: the checker must find the stale write-back.
func TestHistoryCheckerCatchesTheNaivePath(t *testing.T) {
	if testing.Short() {
		t.Skip("a randomized run")
	}
	db, _ := setUpHistory(t)
	c := newCache(t, newRedisStore(t, sharedAddr(t)), aside.Options{})
	ctx := context.Background()
	naive := func(key int) (int64, error) {
		k := fmt.Sprint("row:", key)
		if v, found, err := aside.GetIfPresent[int64](ctx, c, k); found || err != nil {
			return v, err
		}
		v, err := loader(db, key, 0)(ctx)
		if err == nil {
			aside.Set(ctx, c, k, v, time.Minute)
		}
		return v, err
	}
	until := time.Now().Add(historyDuration)
	for time.Now().Before(until) { // rounds of a second, until the checker finds one
		h := &history{}
		round := time.Now().Add(time.Second)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for time.Now().Before(round) {
					key := rand.IntN(historyKeys)
					start := time.Now().UnixNano()
					v, err := naive(key)
					if err == nil {
						h.add(op{Key: key, Version: v, Start: start, End: time.Now().UnixNano()})
					}
				}
			})
		}
		wg.Go(func() {
			write(db, 2, round, h, func(key int) error {
				_, err := c.Delete(ctx, fmt.Sprint("row:", key))
				return err
			})
		})
		wg.Wait()
		if bad, _ := violations(h.ops, 0); len(bad) > 0 {
			t.Logf("the checker found %d stale reads on the naive path, e.g. %s", len(bad), bad[0])
			return
		}
	}
	t.Error("the checker found no stale read on the naive get / load / set path: it cannot fail")
}
