package monitor

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// How many admin tokens are checked. A client that sent a wrong token in
// the last suspectFor is a suspect: its tokens are checked at most one per
// guessInterval across all suspects (10 a second), each before anyone
// learns whether it is right, so that neither the answer nor its timing
// tells more; one that would wait past maxGuessWait is not checked at all
// (429). A client with no wrong token is checked at once, so the admin's
// right token never waits for an attacker's flood unless both come from
// one address (a proxy's, say). A wrong token is answered after
// guessInterval besides: a person who mistyped waits a moment.
const (
	guessInterval = 100 * time.Millisecond
	maxGuessWait  = 2 * time.Second
	suspectFor    = 10 * time.Minute
	maxSuspects   = 10_000 // about 1 MB; past it every client is a suspect
)

// verdict is what came of an admin token.
type verdict int

const (
	rightToken verdict = iota
	wrongToken
	throttled // not checked: too many suspects' tokens queued
)

// guessGate decides when admin tokens are checked. A zero guessGate is
// ready for use.
type guessGate struct {
	mu       sync.Mutex
	next     time.Time            // guarded by mu: the earliest free slot for a suspect's token
	suspects map[string]time.Time // guarded by mu: client → when it last sent a wrong token
	full     time.Time            // guarded by mu: until when suspects is full of live entries
}

// check tells whether the token client sent is right, calling right when
// the gate lets it. A client's first token is checked under the gate's
// lock, so that a burst of first tokens from one client is one check, not
// a burst of free ones.
func (g *guessGate) check(ctx context.Context, client string, right func() bool) verdict {
	now := time.Now()
	g.mu.Lock()
	if !g.suspect(client, now) {
		ok := right()
		if !ok {
			g.remember(client, now)
			g.next = later(g.next, now.Add(guessInterval))
		}
		g.mu.Unlock()
		return g.answer(ctx, ok)
	}
	slot := later(g.next, now)
	if slot.Sub(now) > maxGuessWait {
		g.mu.Unlock()
		return throttled
	}
	g.next = slot.Add(guessInterval)
	g.mu.Unlock()
	if !sleep(ctx, slot.Sub(now)) {
		return throttled // the client left; it hears nothing
	}
	ok := right()
	if !ok {
		g.mu.Lock()
		g.remember(client, time.Now())
		g.mu.Unlock()
	}
	return g.answer(ctx, ok)
}

// answer holds a wrong token's answer back guessInterval.
func (g *guessGate) answer(ctx context.Context, ok bool) verdict {
	if ok {
		return rightToken
	}
	sleep(ctx, guessInterval)
	return wrongToken
}

// suspect tells whether client sent a wrong token within suspectFor, or
// the table of suspects is full (then every client is one).
func (g *guessGate) suspect(client string, now time.Time) bool {
	if at, ok := g.suspects[client]; ok && now.Sub(at) < suspectFor {
		return true
	}
	return now.Before(g.full)
}

// remember makes client a suspect. A full table first drops the suspects
// whose time is over; when none is, it stays full until the oldest's is.
func (g *guessGate) remember(client string, now time.Time) {
	if g.suspects == nil {
		g.suspects = make(map[string]time.Time)
	}
	if _, ok := g.suspects[client]; !ok && len(g.suspects) >= maxSuspects {
		oldest := now
		for c, at := range g.suspects {
			if now.Sub(at) >= suspectFor {
				delete(g.suspects, c)
			} else if at.Before(oldest) {
				oldest = at
			}
		}
		if len(g.suspects) >= maxSuspects {
			g.full = oldest.Add(suspectFor)
			return
		}
	}
	g.suspects[client] = now
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleep waits d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// clientOf names the client of r for the gate: its IP address, and for
// IPv6 its /64, which one host commonly holds whole.
func clientOf(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := ap.Addr().Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}
