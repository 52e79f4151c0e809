package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/rueidis"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
)

// deleteRecord compares aside's pattern delete with the original's KEYS +
// DEL, by the latency a probe saw while each ran.
type deleteRecord struct {
	Keys    int          `json:"keys"`
	Deleted int          `json:"deleted"`
	Aside   deleteRun    `json:"aside"`
	KeysDel deleteRun    `json:"keysDel"`
	Idle    probeLatency `json:"idle"`
}

type deleteRun struct {
	Removed int          `json:"removed"`
	Millis  float64      `json:"millis"`
	Probe   probeLatency `json:"probe"`
}

// probeLatency is what a GET every 100 µs saw, in microseconds.
type probeLatency struct {
	Samples int64   `json:"samples"`
	P50     float64 `json:"p50us"`
	P99     float64 `json:"p99us"`
	P999    float64 `json:"p999us"`
	Max     float64 `json:"maxus"`
}

// runDelete fills a private redis-server with -keys keys, of which -delete
// are under the cache's "bulk:" prefix, and removes those while a probe
// client reads another key and records its latency: first with
// DeletePattern (SCAN + UNLINK in batches), then, refilled, with the
// original's KEYS + one DEL.
func runDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("delete", stderr)
	total := fs.Int("keys", 1_000_000, "keys in Redis")
	deleted := fs.Int("delete", 100_000, "keys the pattern matches")
	jsonOut := fs.String("json", "", "also write the record as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *deleted <= 0 || *deleted > *total {
		return fmt.Errorf("-delete %d of -keys %d: want 1 to -keys", *deleted, *total)
	}
	srv, _, stop, err := privateRedis("delete")
	if err != nil {
		return err
	}
	defer stop()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		return err
	}
	defer client.Close()

	rec := deleteRecord{Keys: *total, Deleted: *deleted}
	if err := fillShowing(ctx, stderr, client, *total, *deleted); err != nil {
		return err
	}
	rec.Idle = probe(ctx, srv.Addr, func() { time.Sleep(time.Second) })

	store, err := redisstore.New(redisstore.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		return err
	}
	c, err := aside.New(store, aside.Options{OpTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintln(stderr, "DeletePattern(bulk:*)...")
	rec.Aside = timed(ctx, srv.Addr, func() (int, error) { return c.DeletePattern(ctx, "bulk:*") })

	fmt.Fprintln(stderr, "refilling, then KEYS + DEL...")
	if err := fillShowing(ctx, stderr, client, *deleted, *deleted); err != nil {
		return err
	}
	rec.KeysDel = timed(ctx, srv.Addr, func() (int, error) {
		keys, err := client.Do(ctx, client.B().Keys().Pattern("aside:bulk:*").Build()).AsStrSlice()
		if err != nil || len(keys) == 0 {
			return 0, err
		}
		n, err := client.Do(ctx, client.B().Del().Key(keys...).Build()).AsInt64()
		return int(n), err
	})
	fmt.Fprintf(stdout, "probe GET latency (µs), idle: p50 %.0f p99 %.0f max %.0f\n", rec.Idle.P50, rec.Idle.P99, rec.Idle.Max)
	for _, r := range []struct {
		name string
		run  deleteRun
	}{{"aside DeletePattern (SCAN+UNLINK)", rec.Aside}, {"original KEYS + DEL", rec.KeysDel}} {
		fmt.Fprintf(stdout, "%-34s removed %d in %.0f ms; probe p50 %.0f p99 %.0f p99.9 %.0f max %.0f\n",
			r.name, r.run.Removed, r.run.Millis, r.run.Probe.P50, r.run.Probe.P99, r.run.Probe.P999, r.run.Probe.Max)
	}
	if *jsonOut != "" {
		return writeJSON(*jsonOut, rec)
	}
	return nil
}

// fillShowing fills, saying on w how far it got.
func fillShowing(ctx context.Context, w io.Writer, c rueidis.Client, n, matched int) error {
	var written atomic.Int64
	stop := showProgress(w, func() string { return fmt.Sprintf("filling: %d of %d keys", written.Load(), n) })
	defer stop()
	return fill(ctx, c, n, matched, &written)
}

// fill writes n keys, the first matched of them under aside:bulk:, the
// rest under other:, in pipelines of 10,000, adding each pipeline's to
// written.
func fill(ctx context.Context, c rueidis.Client, n, matched int, written *atomic.Int64) error {
	const batch = 10_000
	value := string(make([]byte, 100))
	for start := 0; start < n; start += batch {
		cmds := make(rueidis.Commands, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			key := fmt.Sprint("other:", i)
			if i < matched {
				key = fmt.Sprint("aside:bulk:", i)
			}
			cmds = append(cmds, c.B().Set().Key(key).Value(value).Build())
		}
		for _, r := range c.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return err
			}
		}
		written.Add(int64(len(cmds)))
	}
	return nil
}

// timed runs op while a probe measures, and reports both.
func timed(ctx context.Context, addr string, op func() (int, error)) deleteRun {
	var r deleteRun
	var err error
	r.Probe = probe(ctx, addr, func() {
		start := time.Now()
		r.Removed, err = op()
		r.Millis = float64(time.Since(start).Microseconds()) / 1000
	})
	if err != nil {
		r.Removed = -1
	}
	return r
}

// probe reads a key every 100 µs while work runs, on a client of its own
// (as another application would), and returns the latencies it saw.
func probe(ctx context.Context, addr string, work func()) probeLatency {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return probeLatency{}
	}
	defer c.Close()
	c.Do(ctx, c.B().Set().Key("probe").Value("p").Build())
	h := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			start := time.Now()
			c.Do(ctx, c.B().Get().Key("probe").Build())
			h.RecordValue(max(time.Since(start).Microseconds(), 1))
		}
	})
	work()
	close(done)
	wg.Wait()
	return probeLatency{Samples: h.TotalCount(), P50: float64(h.ValueAtQuantile(50)), P99: float64(h.ValueAtQuantile(99)),
		P999: float64(h.ValueAtQuantile(99.9)), Max: float64(h.Max())}
}
