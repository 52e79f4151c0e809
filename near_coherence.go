package aside

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// coherence decides what the near cache may keep and when it may serve.
//
// What it keeps: an entry read from the store is kept only if no change
// of its key was told (or made here) since just before the read was sent.
// Each key falls in one of nearStripes stripes, whose count moves on
// every change of a key in it, and the epoch moves on every flush; a read
// notes both before it asks the store, and its entry is kept only if
// neither moved, checked under the stripe's lock, which the change takes
// too, so that a change cannot slip between the check and the keeping. A
// change of another key in the stripe costs a keep, never a wrong one.
//
// When it serves: only while a Confirm begun less than maxLag ago came
// back, judged on every hit by the monotonic clock (a loop starved of CPU
// can delay the next Confirm, never stretch the bound). Confirm's answer follows every push sent on its connections
// before it, so every change the store made before it began has been
// told, and has dropped its key, when it comes back: a value served is
// never older than the changes made maxLag before. A nil push (a flush, a
// lost connection) drops everything; a connection replaced, or lost
// since the last Confirm, may have missed pushes, so the first Confirm
// after it drops everything again before serving resumes.
type coherence struct {
	stripes [nearStripes]stripe
	seed    maphash.Seed

	flushMu sync.RWMutex  // write-held by a flush; read-held by a keep
	epoch   atomic.Uint64 // moves on every flush
	lost    atomic.Bool   // a nil push since the last Confirm: flush before serving again

	deadline atomic.Int64 // until when (monotonic, see mono) the last Confirm vouches
	session  string       // the connections the last Confirm named; the loop's alone
	maxLag   time.Duration
}

// monoBase is the origin of mono.
var monoBase = time.Now()

// mono is the monotonic time in ns since monoBase: one clock read, and
// immune to changes of the wall clock. The near cache judges its deadline
// and its items' lives by it on every hit.
func mono() int64 { return int64(time.Since(monoBase)) }

// serving reports whether the last Confirm vouches for now.
func (co *coherence) serving(now int64) bool { return now < co.deadline.Load() }

func newCoherence(maxLag time.Duration) *coherence {
	return &coherence{seed: maphash.MakeSeed(), maxLag: maxLag}
}

// nearStripes is how many stripes keys fall in: enough that a change of
// one key rarely costs another a keep.
const nearStripes = 1024

type stripe struct {
	mu    sync.Mutex
	count atomic.Uint64 // moves, under mu, on every change of a key in the stripe
}

// mark is what a read notes before it asks the store.
type mark struct {
	stripe *stripe
	count  uint64
	epoch  uint64
}

func (co *coherence) stripeOf(full string) *stripe {
	return &co.stripes[maphash.String(co.seed, full)%nearStripes]
}

// note returns the mark of full now.
func (co *coherence) note(full string) mark {
	s := co.stripeOf(full)
	return mark{stripe: s, count: s.count.Load(), epoch: co.epoch.Load()}
}

// keepIf runs keep if no change of the mark's stripe and no flush came
// since it was noted, and reports whether it did.
func (co *coherence) keepIf(m mark, keep func()) bool {
	co.flushMu.RLock()
	defer co.flushMu.RUnlock()
	m.stripe.mu.Lock()
	defer m.stripe.mu.Unlock()
	if m.stripe.count.Load() != m.count || co.epoch.Load() != m.epoch {
		return false
	}
	keep()
	return true
}

// changed records a change of full and runs drop under its stripe's lock.
func (co *coherence) changed(full string, drop func()) {
	s := co.stripeOf(full)
	s.mu.Lock()
	s.count.Add(1)
	drop()
	s.mu.Unlock()
}

// flush records a flush and runs dropAll with every keep held off.
func (co *coherence) flush(dropAll func()) {
	co.flushMu.Lock()
	co.epoch.Add(1)
	dropAll()
	co.flushMu.Unlock()
}

// vouch records a Confirm begun at sent (mono) that came back naming
// session: the near cache serves until sent + maxLag. A session other
// than the last, or a connection lost since, first flushes.
func (co *coherence) vouch(sent int64, session string, dropAll func()) {
	if co.lost.Swap(false) || session != co.session {
		co.flush(dropAll)
		co.session = session
	}
	co.deadline.Store(sent + int64(co.maxLag))
}

// confirmLoop confirms every maxLag/4 until ctx ends.
func (co *coherence) confirmLoop(ctx context.Context, t Tracking, dropAll func(), fail func(error)) {
	tick := time.NewTicker(co.maxLag / 4)
	defer tick.Stop()
	for {
		sent := mono()
		cctx, cancel := context.WithTimeout(ctx, co.maxLag)
		session, err := t.Confirm(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fail(err)
		default:
			co.vouch(sent, session, dropAll)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
