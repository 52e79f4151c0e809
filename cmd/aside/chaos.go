package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// runChaos runs two aside-server instances on a PostgreSQL database of
// their own and one Redis (a master with a replica, behind one endpoint),
// under reads and writes over many users, through Redis's everyday
// faults in turn, and prints per phase: requests, failed requests, stale
// reads (a read that returned a version older than one whose write had
// completed before the read began), those beyond the bounds aside states
// (begun more than 1 s after Redis was back, and, with near caches, more
// than their 100 ms after the write), and latency.
func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("chaos", stderr)
	server := fs.String("server", "bin/aside-server", "the aside-server binary")
	pg := fs.String("postgres", cmpOrString(getenv("ASIDE_TEST_POSTGRES_URL"), "postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable"),
		"a PostgreSQL admin URL: the run creates a database of its own there, and drops it")
	phase := fs.Duration("phase", 5*time.Second, "how long the load runs in each phase once its fault is over")
	users := fs.Int("users", 200, "users read and written (of the 1,000 seeded)")
	readers := fs.Int("readers", 16, "concurrent readers")
	writers := fs.Int("writers", 4, "concurrent writers")
	check := fs.Bool("check", false, "fail unless the targets hold: no failed request, no stale read begun over 1 s after Redis was back, no read over 2 s in the phase a lease holder was killed")
	near := fs.Bool("near", true, "the servers' near caches (ASIDE_NEAR_CACHE): another server may then read a value up to 100 ms after its write")
	jsonOut := fs.String("json", "", "also write the phases as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *users < *writers || *users+coldUsers > 1000 || *readers < 1 || *writers < 1 {
		return fmt.Errorf("-users %d, -readers %d, -writers %d: want at least one reader, a user per writer, and at most %d users",
			*users, *readers, *writers, 1000-coldUsers)
	}
	fmt.Fprintln(stderr, "chaos: starting Redis (a master and a replica), PostgreSQL's database and three servers")
	rig, err := newChaosRig(ctx, *server, *pg, *near)
	if err != nil {
		return err
	}
	defer rig.close()
	load := newChaosLoad(rig, *users)
	load.near = *near
	results, err := runPhases(ctx, rig, load, chaosRun{phase: *phase, readers: *readers, writers: *writers}, stderr)
	if err != nil {
		return err
	}
	printChaos(stdout, results)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, results); err != nil {
			return err
		}
	}
	if *check {
		return checkChaos(results)
	}
	return nil
}

func cmpOrString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// chaosRun is how hard and how long each phase runs.
type chaosRun struct {
	phase            time.Duration
	readers, writers int
}

// chaosPhase is one fault: it runs while the load goes on, and says when
// Redis is back (tally.isBack) before it returns.
type chaosPhase struct {
	name  string
	fault func(ctx context.Context, r *chaosRig, l *chaosLoad, t *phaseTally) error
}

var chaosPhases = []chaosPhase{
	{"steady", nil},
	{"Redis paused 1 s", func(ctx context.Context, r *chaosRig, _ *chaosLoad, t *phaseTally) error {
		sleep(ctx, time.Second)
		if err := r.master.Pause(); err != nil {
			return err
		}
		sleep(ctx, time.Second)
		defer t.isBack(time.Now())
		return r.master.Resume()
	}},
	{"Redis killed, restarted empty", func(ctx context.Context, r *chaosRig, _ *chaosLoad, t *phaseTally) error {
		sleep(ctx, time.Second)
		defer t.isBack(time.Now())
		return r.master.RestartEmpty()
	}},
	{"Redis restarted from a snapshot 2 s old", func(ctx context.Context, r *chaosRig, _ *chaosLoad, t *phaseTally) error {
		sleep(ctx, 500*time.Millisecond)
		if err := r.master.Snapshot(); err != nil {
			return err
		}
		sleep(ctx, 2*time.Second) // writes invalidate what the snapshot holds
		defer t.isBack(time.Now())
		return r.master.RestartFromSnapshot()
	}},
	{"failover to a replica that missed 2 s of writes", func(ctx context.Context, r *chaosRig, _ *chaosLoad, t *phaseTally) error {
		if err := waitLinked(r.replica); err != nil {
			return err
		}
		sleep(ctx, 500*time.Millisecond)
		if err := r.cutReplica(); err != nil {
			return err
		}
		sleep(ctx, 2*time.Second)
		defer t.isBack(time.Now())
		return r.failOver()
	}},
	{"a server killed -9 mid-load", killMidLoad},
}

// coldUsers are read only in the last phase: users+1 ... users+coldUsers.
const coldUsers = 50

// killMidLoad has C, a server whose database answers 300 ms late, start
// loading the cold users (each load holds its key's lease), kills it -9,
// and reads the same users through A and B at once: each waits on a lease
// whose holder is gone.
func killMidLoad(ctx context.Context, r *chaosRig, l *chaosLoad, t *phaseTally) error {
	c := r.servers[2]
	var wg sync.WaitGroup
	for i := range coldUsers {
		wg.Go(func() { l.getName(ctx, c, l.users+1+i) }) // its requests are not counted
	}
	sleep(ctx, 150*time.Millisecond) // C holds the leases and waits on its database
	c.kill()
	t.isBack(time.Now())
	for i := range coldUsers {
		for _, s := range r.servers[:2] {
			wg.Go(func() {
				began := time.Now()
				_, err := l.getName(ctx, s, l.users+1+i)
				t.record(time.Since(began), err)
			})
		}
	}
	wg.Wait()
	return nil
}

// runPhases runs the load through every phase.
func runPhases(ctx context.Context, r *chaosRig, l *chaosLoad, run chaosRun, stderr io.Writer) ([]phaseResult, error) {
	slow, err := r.delayedDatabase(ctx, 300*time.Millisecond)
	if err != nil {
		return nil, err
	}
	c, err := r.startServer(ctx, "C", slow)
	if err != nil {
		return nil, err
	}
	r.servers = append(r.servers, c)
	l.phase.Store(&phaseTally{})
	lctx, stop := context.WithCancel(ctx)
	wg := l.run(lctx, run.readers, run.writers)
	defer func() { stop(); wg.Wait() }()
	var results []phaseResult
	for _, ph := range chaosPhases {
		t := &phaseTally{faulty: ph.fault != nil}
		l.phase.Store(t)
		fmt.Fprintf(stderr, "chaos: %s\n", ph.name)
		if ph.fault != nil {
			if err := ph.fault(ctx, r, l, t); err != nil {
				return nil, fmt.Errorf("phase %q: %w", ph.name, err)
			}
		}
		sleep(ctx, run.phase)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		results = append(results, t.result(ph.name))
	}
	return results, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func printChaos(w io.Writer, results []phaseResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\trequests\tfailed\tstale\tbeyond bounds\tp99 ms\tmax ms\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t\n", r.Name, r.Requests, r.Failed, r.Stale, r.Late, r.P99Ms, r.MaxMs)
	}
	tw.Flush()
	for _, r := range results {
		for _, f := range r.Failures {
			fmt.Fprintf(w, "%s: failed: %s\n", r.Name, f)
		}
		for _, s := range r.StaleIs {
			fmt.Fprintf(w, "%s: stale: %s\n", r.Name, s)
		}
	}
}

// checkChaos holds the results to the targets.
func checkChaos(results []phaseResult) error {
	var bad []string
	for _, r := range results {
		if r.Failed > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d failed requests", r.Name, r.Failed))
		}
		if r.Late > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d stale reads beyond the bounds (begun over 1 s after Redis was back, over 100 ms after the write)", r.Name, r.Late))
		}
	}
	if last := results[len(results)-1]; last.MaxMs > 2000 {
		bad = append(bad, fmt.Sprintf("%s: a read took %.0f ms: want at most 2 s on a dead lease holder", last.Name, last.MaxMs))
	}
	if bad != nil {
		return errors.New("targets missed:\n  " + strings.Join(bad, "\n  "))
	}
	return nil
}
