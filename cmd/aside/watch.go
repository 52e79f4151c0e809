package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// counts are the figures of a namespace, or of the whole cache, that the
// CLI shows.
type counts struct {
	Hits, Misses, Sets, Deletes, Errors, Loads, LoadErrors, Invalidations uint64
	StaleServed, LeaseWaits                                               uint64
	HitRate                                                               float64
}

// watchStats prints the server's figures every interval, with per-second
// rates since the previous print: in place on a terminal (the screen
// cleared and redrawn), a block at a time elsewhere. It stops when ctx
// ends or after frames prints (0: never). A server that does not answer
// is said so in the frame, and watched on.
func watchStats(ctx context.Context, w io.Writer, base string, every time.Duration, frames int, inPlace bool) error {
	t := time.NewTicker(every)
	defer t.Stop()
	var prev *cacheStats
	var prevAt time.Time
	for n := 1; ; n++ {
		s, err := fetchStats(ctx, base)
		now := time.Now()
		if inPlace {
			fmt.Fprint(w, "\x1b[H\x1b[2J") // cursor home, clear the screen
		} else if n > 1 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  %s  every %v (Ctrl-C to stop)\n", now.Format("15:04:05"), base, every)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			fmt.Fprintf(w, "no figures: %v\n", err)
		default:
			printFrame(w, &s, prev, now.Sub(prevAt))
			prev, prevAt = &s, now
		}
		if frames > 0 && n >= frames {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// printFrame prints a table of the namespaces and the total: the hit rate
// and the rates over dt since prev (blank in the first frame), and the
// hit rate since the start.
func printFrame(w io.Writer, s, prev *cacheStats, dt time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "namespace\thit rate\thits/s\tmisses/s\tloads/s\terrors/s\tload errors/s\tinvalidated/s\tsince start\t")
	names := make([]string, 0, len(s.Namespaces))
	for n := range s.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	row := func(name string, now, before counts, ok bool) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f%%\t\n", name, intervalHitRate(now, before, ok),
			perSec(now.Hits, before.Hits, dt, ok), perSec(now.Misses, before.Misses, dt, ok), perSec(now.Loads, before.Loads, dt, ok),
			perSec(now.Errors, before.Errors, dt, ok), perSec(now.LoadErrors, before.LoadErrors, dt, ok),
			perSec(now.Invalidations, before.Invalidations, dt, ok), now.HitRate)
	}
	for _, n := range names {
		var before counts
		if prev != nil {
			before = prev.Namespaces[n]
		}
		row(n, s.Namespaces[n], before, prev != nil)
	}
	var total counts
	if prev != nil {
		total = prev.counts
	}
	row("total", s.counts, total, prev != nil)
	tw.Flush()
	fmt.Fprintf(w, "breaker %s (%d trips); pending invalidations %d; stale served %d, lease waits %d\n",
		s.Breaker, s.BreakerTrips, s.PendingInvalidations, s.StaleServed, s.LeaseWaits)
}

// perSec is how much a counter grew a second, or "" without a previous
// frame; a counter that went back (a reset) counts from zero.
func perSec(now, before uint64, dt time.Duration, ok bool) string {
	if !ok || dt <= 0 {
		return ""
	}
	if now < before {
		before = 0
	}
	return fmt.Sprintf("%.1f", float64(now-before)/dt.Seconds())
}

// intervalHitRate is the hit rate of the reads since the previous frame.
func intervalHitRate(now, before counts, ok bool) string {
	if !ok {
		return ""
	}
	if now.Hits < before.Hits || now.Misses < before.Misses {
		before = counts{}
	}
	hits, reads := now.Hits-before.Hits, now.Hits-before.Hits+now.Misses-before.Misses
	if reads == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", float64(hits)/float64(reads)*100)
}
