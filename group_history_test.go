package aside_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// groupHistory: two processes, rows whose version is their group's, read
// through GetMany (and Get) with groups, while each process's writer bumps
// a group's version and invalidates the group. A read is stale when it
// returns a version older than one whose invalidation returned before the
// read began (in the writer's process, or in the other without a near
// cache), or more than MaxLag before it began (the other process, near).
type groupHistory struct {
	groups  int
	perG    int
	ver     []atomic.Int64
	mu      sync.Mutex
	done    [][]doneRec // per group, in order
	failPct int
}

type doneRec struct {
	v    int64
	at   time.Time
	proc int
}

func (h *groupHistory) id(g, k int) string { return fmt.Sprintf("%d:%d", g, k) }

func (h *groupHistory) load(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		g, _ := strconv.Atoi(strings.SplitN(id, ":", 2)[0])
		out[id] = strconv.FormatInt(h.ver[g].Load(), 10)
	}
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	if h.failPct > 0 && rand.IntN(100) < h.failPct {
		return nil, errors.New("db failed")
	}
	return out, nil
}

// required is the least version a read of group g begun at start by proc
// may return.
func (h *groupHistory) required(g int, start time.Time, proc int, lag time.Duration) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var req int64
	for _, d := range h.done[g] {
		bound := d.at
		if d.proc != proc {
			bound = bound.Add(lag)
		}
		if bound.Before(start) && d.v > req {
			req = d.v
		}
	}
	return req
}

func runGroupHistory(t *testing.T, caches []*aside.Cache, cfg aside.NamespaceConfig, lag time.Duration, failPct int, dur time.Duration) {
	runGroupHistoryPaced(t, caches, cfg, lag, failPct, dur, 1)
}

func runGroupHistoryPaced(t *testing.T, caches []*aside.Cache, cfg aside.NamespaceConfig, lag time.Duration, failPct int, dur time.Duration, pace int) {
	h := &groupHistory{groups: 6, perG: 4, failPct: failPct}
	h.ver = make([]atomic.Int64, h.groups)
	h.done = make([][]doneRec, h.groups)
	cfg.Groups = func(id string) []string {
		g, _, _ := strings.Cut(id, ":")
		return []string{"grp:" + g}
	}
	var reads, stale, failed, writes, deferred atomic.Int64
	var firstStale atomic.Value
	ctx := context.Background()
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	for p, c := range caches {
		ns := newNamespace[string](t, c, cfg)
		wg.Go(func() { // writer: the groups g%2 == p
			for time.Now().Before(stop) {
				g := rand.IntN(h.groups/2)*2 + p%2
				v := h.ver[g].Add(1)
				var err error
				if rand.IntN(4) == 0 {
					err = c.Invalidate(ctx, aside.Groups("grp:"+strconv.Itoa(g)), ns.IDs(h.id(g, 0)))
				} else {
					err = c.Invalidate(ctx, aside.Groups("grp:"+strconv.Itoa(g)))
				}
				if err != nil {
					deferred.Add(1)
					continue // not returned without an error: no promise
				}
				h.mu.Lock()
				h.done[g] = append(h.done[g], doneRec{v, time.Now(), p})
				h.mu.Unlock()
				writes.Add(1)
				time.Sleep(time.Duration(pace*(1+rand.IntN(3))) * time.Millisecond)
			}
		})
		for range 3 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					n := 1 + rand.IntN(6)
					var ids []string
					for range n {
						ids = append(ids, h.id(rand.IntN(h.groups), rand.IntN(h.perG)))
					}
					start := time.Now()
					var got map[string]string
					var err error
					if n == 1 && rand.IntN(2) == 0 {
						var v string
						v, err = ns.Get(ctx, ids[0], func(ctx context.Context) (string, error) {
							m, err := h.load(ctx, ids)
							return m[ids[0]], err
						})
						if err == nil {
							got = map[string]string{ids[0]: v}
						}
					} else {
						got, err = ns.GetMany(ctx, ids, h.load)
					}
					reads.Add(1)
					if err != nil {
						failed.Add(1)
					}
					for id, v := range got {
						g, _ := strconv.Atoi(strings.SplitN(id, ":", 2)[0])
						have, _ := strconv.ParseInt(v, 10, 64)
						if req := h.required(g, start, p, lag); have < req {
							if stale.Add(1) == 1 {
								firstStale.Store(fmt.Sprintf("process %d read %s = v%d, begun %v after v%d's invalidation returned", p, id, have, time.Since(start), req))
							}
						}
					}
				}
			})
		}
	}
	wg.Wait()
	t.Logf("%d reads (%d failed), %d group invalidations (%d deferred), %d stale", reads.Load(), failed.Load(), writes.Load(), deferred.Load(), stale.Load())
	if s := stale.Load(); s > 0 {
		t.Errorf("%d stale reads; first: %v", s, firstStale.Load())
	}
}

func TestGroupHistoryNear(t *testing.T) {
	srv := redistest.Start(t)
	cs := nearCaches(t, srv, 2, aside.Options{OpTimeout: time.Second})
	runGroupHistory(t, cs, aside.NamespaceConfig{Name: "h", TTL: 8 * time.Second}, 100*time.Millisecond, 0, 3*time.Second)
}

func TestGroupHistoryFailSafeNear(t *testing.T) {
	srv := redistest.Start(t)
	cs := nearCaches(t, srv, 2, aside.Options{OpTimeout: time.Second})
	cfg := aside.NamespaceConfig{Name: "h", TTL: 60 * time.Millisecond, SoftTTL: 30 * time.Millisecond,
		MaxStale: time.Hour, SoftTimeout: 2 * time.Millisecond, FailSafeThrottle: 20 * time.Millisecond}
	runGroupHistory(t, cs, cfg, 100*time.Millisecond, 33, 3*time.Second)
}
