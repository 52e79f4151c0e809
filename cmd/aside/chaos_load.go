package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// versionBook is what the writers wrote: for each user, the versions of
// its name whose writes completed, and when. A read is stale when it
// returns a version older than one whose write completed before the read
// began.
type versionBook struct {
	mu   sync.Mutex // guards done
	done map[int][]written
}

type written struct {
	version int
	at      time.Time
	by      string // the server that took the write
}

func (b *versionBook) wrote(user int, w written) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done[user] = append(b.done[user], w)
}

// newest is the newest write of user that completed before t.
func (b *versionBook) newest(user int, t time.Time) written {
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := b.done[user]
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].at.Before(t) {
			return ws[i]
		}
	}
	return written{}
}

// nameOf is the name a write of version v gives user.
func nameOf(user, v int) string { return fmt.Sprintf("chaos user %d v%d", user, v) }

// versionIn reads the version back from a name: 0 for the seeded one.
func versionIn(name string) int {
	i := strings.LastIndex(name, " v")
	if i < 0 || !strings.HasPrefix(name, "chaos user ") {
		return 0
	}
	v, _ := strconv.Atoi(name[i+2:])
	return v
}

// phaseTally is what one phase measured. Every request counts in the phase
// it began in.
type phaseTally struct {
	mu        sync.Mutex // guards all below
	latencies []time.Duration
	failed    int
	stale     int
	late      int       // stale reads outside the bounds: begun over a second after back, and over nearLag after the write
	back      time.Time // when Redis was back (or the fault ended); zero before
	faulty    bool      // the phase has a fault: stale reads before back+1 s are allowed
	failures  []string  // the first few
	staleSeen []string
}

// staleGrace is how long after Redis is back a stale read may begin: the
// targets count those begun later.
const staleGrace = time.Second

// nearLag is how long after a write through one server the other may
// still read the older value from its near cache (MaxLag, the default of
// the server's ASIDE_NEAR_CACHE=on): the documented bound.
const nearLag = 100 * time.Millisecond

func (p *phaseTally) record(took time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latencies = append(p.latencies, took)
	if err != nil {
		p.failed++
		if len(p.failures) < 5 {
			p.failures = append(p.failures, err.Error())
		}
	}
}

// staleRead counts a stale read begun at began, of a value a write that
// completed at wrote (through another server, with near) replaced.
func (p *phaseTally) staleRead(began time.Time, wrote time.Time, near bool, what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stale++
	if near && began.Sub(wrote) < nearLag {
		return // within the near cache's bound
	}
	if !p.faulty || (!p.back.IsZero() && began.After(p.back.Add(staleGrace))) {
		p.late++
		if len(p.staleSeen) < 5 {
			p.staleSeen = append(p.staleSeen, what)
		}
	}
}

func (p *phaseTally) isBack(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.back = at
}

// chaosLoad is the readers and writers, over the rig's live servers.
type chaosLoad struct {
	rig    *chaosRig
	users  int
	book   versionBook
	client *http.Client
	near   bool // the servers have near caches
	phase  atomic.Pointer[phaseTally]
	next   []atomic.Int64 // per user: the last version a writer sent
}

func newChaosLoad(rig *chaosRig, users int) *chaosLoad {
	return &chaosLoad{rig: rig, users: users, book: versionBook{done: map[int][]written{}},
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		next:   make([]atomic.Int64, users+1)}
}

// live returns a server that has not been killed, at random.
func (l *chaosLoad) live() *chaosServer {
	var ok []*chaosServer
	for _, s := range l.rig.servers[:2] { // the load's servers: A and B
		if !s.dead {
			ok = append(ok, s)
		}
	}
	return ok[rand.IntN(len(ok))]
}

// read reads a user through a server, and checks what it got.
func (l *chaosLoad) read(ctx context.Context, user int) {
	p, s := l.phase.Load(), l.live()
	began := time.Now()
	name, err := l.getName(ctx, s, user)
	p.record(time.Since(began), err)
	if err != nil {
		return
	}
	if v, w := versionIn(name), l.book.newest(user, began); v < w.version {
		p.staleRead(began, w.at, l.near && w.by != s.name, fmt.Sprintf("%s read user %d at v%d (%v), begun %v after v%d's write through %s had completed",
			s.name, user, v, time.Since(began), began.Sub(w.at), w.version, w.by))
	}
}

func (l *chaosLoad) getName(ctx context.Context, s *chaosServer, user int) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/users/"+strconv.Itoa(user), nil)
	var u struct{ Name string }
	if err := l.do(req, &u); err != nil {
		return "", fmt.Errorf("GET user %d from %s: %w", user, s.name, err)
	}
	return u.Name, nil
}

// write writes the next version of a user's name through a server.
func (l *chaosLoad) write(ctx context.Context, user int) {
	p, s := l.phase.Load(), l.live()
	v := int(l.next[user].Add(1))
	body, _ := json.Marshal(map[string]string{"name": nameOf(user, v)})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, s.url+"/api/users/"+strconv.Itoa(user), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	began := time.Now()
	err := l.do(req, nil)
	if err == nil {
		l.book.wrote(user, written{version: v, at: time.Now(), by: s.name})
	} else {
		err = fmt.Errorf("PATCH user %d on %s: %w", user, s.name, err)
	}
	p.record(time.Since(began), err)
}

func (l *chaosLoad) do(req *http.Request, out any) error {
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %.200s", resp.Status, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// run drives readers and writers until ctx ends. Each writer owns the
// users w, w+writers, ... so that one user's writes never overlap and
// their versions reach the database in order.
func (l *chaosLoad) run(ctx context.Context, readers, writers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for ctx.Err() == nil {
				l.read(ctx, 1+rand.IntN(l.users))
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for ctx.Err() == nil {
				mine := (l.users - 1 - w) / writers
				l.write(ctx, 1+w+writers*rand.IntN(mine+1))
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Millisecond): // writes are a few percent of the requests
				}
			}
		})
	}
	return &wg
}

// phaseResult is one phase's line of the report.
type phaseResult struct {
	Name     string   `json:"name"`
	Requests int      `json:"requests"`
	Failed   int      `json:"failed"`
	Stale    int      `json:"stale"`
	Late     int      `json:"staleBeyondBounds"`
	P99Ms    float64  `json:"p99Ms"`
	MaxMs    float64  `json:"maxMs"`
	Failures []string `json:"failures,omitempty"`
	StaleIs  []string `json:"staleReads,omitempty"`
}

func (p *phaseTally) result(name string) phaseResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := phaseResult{Name: name, Requests: len(p.latencies), Failed: p.failed, Stale: p.stale, Late: p.late,
		Failures: p.failures, StaleIs: p.staleSeen}
	if n := len(p.latencies); n > 0 {
		slices.Sort(p.latencies)
		r.P99Ms = ms(p.latencies[min(n-1, n*99/100)])
		r.MaxMs = ms(p.latencies[n-1])
	}
	return r
}
