package aside_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/redistest"
	"github.com/aside-cache/aside/redisstore"
)

// The history checker. Writers update rows in a database and invalidate
// their keys; readers read the rows through two caches with Redis clients
// of their own, one of them in a second OS process; loaders take random
// time; the private Redis is paused and resumed once mid-run. Every
// operation is recorded with its start and end, and the checker asserts
// that no read that began after an invalidation took effect saw a value
// older than that invalidation's write. An invalidation takes effect when
// it returns; one deferred (ErrDeferred, the store unreachable) when its
// replay has run, as docs/CONSISTENCY.md states. The same checker, run on
// a naive get / load / set path, must find a violation: it can fail.

const (
	historyKeys     = 32
	historyDuration = 4 * time.Second
	historyEnvDB    = "ASIDE_HISTORY_DB"
	historyEnvRun   = "ASIDE_HISTORY_RUN"
)

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
// what the read saw.
func violations(ops []op) []string {
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
	for _, r := range ops {
		if r.Write || r.Err != "" {
			continue
		}
		var floor int64 // the newest version r must see at least
		var fw op
		for _, w := range writes[r.Key] {
			if w.effect() >= r.Start {
				break
			}
			if w.Version > floor {
				floor, fw = w.Version, w
			}
		}
		if r.Version < floor {
			bad = append(bad, fmt.Sprintf("key %d: a read (child %v) saw version %d; version %d's write began %dus and its invalidation took effect %dus before the read, which took %dus (deferred: %q)",
				r.Key, r.Child, r.Version, floor, (r.Start-fw.Start)/1000, (r.Start-fw.effect())/1000, (r.End-r.Start)/1000, fw.Err))
		}
	}
	return bad
}

// historyDB is the database of the run: rows of versions in a SQLite file
// that both processes open.
func historyDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	return db, db.Ping()
}

// loader reads a row's version, with random time before and after, as a
// loaded database or network would take.
func loader(db *sql.DB, key int) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		var v int64
		err := db.QueryRowContext(ctx, `SELECT version FROM rows WHERE id = ?`, key).Scan(&v)
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return v, err
	}
}

// historyOptions are both processes' cache options. The breaker's short
// cooldown brings each process back to Redis soon after it answers again,
// in the window where another process's deferred invalidations are still
// to be replayed.
func historyOptions(prefix string) aside.Options {
	return aside.Options{KeyPrefix: prefix, Breaker: aside.BreakerOptions{Cooldown: 100 * time.Millisecond}}
}

// historyNamespace reads rows. Its soft TTL is short, so that entries
// refresh in the background many times during a run; its TTL outlives the
// run, so that entries cached before Redis froze are still there when it
// answers again, and only the replay of the invalidations it missed keeps
// them from being read.
func historyNamespace(c *aside.Cache) *aside.Namespace[int64] {
	return aside.NewNamespace[int64](c, aside.NamespaceConfig{
		Name: "rows", Prefix: "row:", TTL: 2 * historyDuration, SoftTTL: 200 * time.Millisecond,
	})
}

// read runs readers on ns until the deadline, recording into h.
func read(ns *aside.Namespace[int64], db *sql.DB, readers int, until time.Time, h *history) {
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for time.Now().Before(until) {
				key := rand.IntN(historyKeys)
				start := time.Now().UnixNano()
				v, err := ns.Get(context.Background(), fmt.Sprint(key), loader(db, key))
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
// and prints its history as JSON lines.
func historyChild() int {
	addr, prefix := os.Getenv(childRedis), os.Getenv(childPrefix)
	start, _ := time.Parse(time.RFC3339Nano, os.Getenv(historyEnvRun))
	db, err := historyDB(os.Getenv(historyEnvDB))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store, _ := redisstore.New(redisstore.Options{Addrs: []string{addr}})
	c, err := aside.New(store, historyOptions(prefix))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	time.Sleep(time.Until(start))
	h := &history{}
	read(historyNamespace(c), db, 4, start.Add(historyDuration), h)
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	for _, o := range h.ops {
		o.Child = true
		enc.Encode(o)
	}
	w.Flush()
	return 0
}

func setUpHistory(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := historyDB(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE rows (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for k := range historyKeys {
		db.Exec(`INSERT INTO rows (id, version) VALUES (?, 1)`, k)
	}
	return db, path
}

// write runs writers until the deadline: each commits a new version of a
// row, then invalidates its key with invalidate, recording when that
// returned.
func write(db *sql.DB, writers int, until time.Time, h *history, invalidate func(key int) error) {
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for time.Now().Before(until) {
				key := rand.IntN(historyKeys)
				start := time.Now().UnixNano()
				v, err := bump(db, key)
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

func TestHistoryHasNoStaleReads(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4 s randomized run")
	}
	srv := redistest.Start(t)
	db, path := setUpHistory(t)
	prefix := uniquePrefix(t)
	c := newCache(t, newRedisStore(t, srv.Addr), historyOptions(prefix))
	ns := historyNamespace(c)

	start := time.Now().Add(300 * time.Millisecond) // time for the child to start
	until := start.Add(historyDuration)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=history", childRedis+"="+srv.Addr, childPrefix+"="+prefix,
		historyEnvDB+"="+path, historyEnvRun+"="+start.Format(time.RFC3339Nano))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var childOps []op
	decoded := make(chan error, 1)
	go func() {
		dec := json.NewDecoder(out)
		for {
			var o op
			if err := dec.Decode(&o); err != nil {
				decoded <- nil
				return
			}
			childOps = append(childOps, o)
		}
	}()

	time.Sleep(time.Until(start))
	h := &history{}
	var wg sync.WaitGroup
	wg.Go(func() { read(ns, db, 4, until, h) })
	wg.Go(func() {
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
	// Redis freezes once, early in the run, so that most of it comes
	// after Redis answers again.
	wg.Go(func() {
		time.Sleep(historyDuration / 5)
		paused = time.Now().UnixNano()
		srv.Pause()
		time.Sleep(400 * time.Millisecond)
		srv.Resume()
		resumed = time.Now().UnixNano()
	})
	wg.Wait()
	<-decoded
	if err := child.Wait(); err != nil {
		t.Fatalf("the second process: %v", err)
	}

	unreplayed := 0
	for i, o := range h.ops {
		if o.Write && o.Err != "" {
			if j, _ := slices.BinarySearch(drained, o.End); j < len(drained) {
				h.ops[i].Replayed = drained[j]
			} else {
				unreplayed++
			}
		}
	}
	if unreplayed > 0 {
		t.Errorf("%d deferred invalidations were still pending a second after the run", unreplayed)
	}
	ops := append(h.ops, childOps...)
	var reads, childReads, writes, deferred, failed int
	for _, o := range ops {
		switch {
		case o.Write && o.Err != "":
			deferred++
			writes++
		case o.Write:
			writes++
		case o.Err != "":
			failed++
		default:
			reads++
		}
	}
	for _, o := range childOps {
		if !o.Write {
			childReads++
		}
	}
	t.Logf("history: %d reads (%d in the second process), %d writes (%d invalidations deferred by the pause), %d failed reads; stats %+v",
		reads, childReads, writes, deferred, failed, c.Stats().Counters)
	if reads < 1000 || childReads < 100 || writes < 100 || deferred == 0 {
		t.Errorf("the run was too small to prove anything: %d reads (%d in the second process), %d writes, %d deferred", reads, childReads, writes, deferred)
	}
	if st := c.Stats(); st.BreakerTrips == 0 || st.Breaker != aside.BreakerClosed || st.InvalidationsReplayed == 0 {
		t.Errorf("breaker %s after %d trips, %d invalidations replayed; want the pause to open it, the run to outlast its recovery, and replays",
			st.Breaker, st.BreakerTrips, st.InvalidationsReplayed)
	}
	if failed > 0 {
		t.Errorf("%d reads failed; the cache must answer every read while the database does", failed)
	}
	if bad := violations(ops); len(bad) > 0 {
		t.Logf("paused at %d, resumed at %d, run from %d", paused, resumed, start.UnixNano())
		for _, b := range bad[:min(len(bad), 10)] {
			t.Log(b)
		}
		t.Errorf("%d stale reads, the first: %s", len(bad), bad[0])
	}
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
		if v, found, err := aside.Get[int64](ctx, c, k); found || err != nil {
			return v, err
		}
		v, err := loader(db, key)(ctx)
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
		if bad := violations(h.ops); len(bad) > 0 {
			t.Logf("the checker found %d stale reads on the naive path, e.g. %s", len(bad), bad[0])
			return
		}
	}
	t.Error("the checker found no stale read on the naive get / load / set path: it cannot fail")
}

// bump commits a new version of a row and returns it; when it returns,
// the write is committed.
func bump(db *sql.DB, key int) (int64, error) {
	tx, err := db.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRow(`UPDATE rows SET version = version + 1 WHERE id = ? RETURNING version`, key).Scan(&v); err != nil {
		return 0, err
	}
	return v, tx.Commit()
}
