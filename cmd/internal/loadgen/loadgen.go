// Package loadgen drives an HTTP server with reads (and a share of writes)
// of keys drawn uniformly or from a Zipf law, at a fixed concurrency or a
// fixed rate, and measures throughput and latency percentiles with an HDR
// histogram. It is the engine of `aside bench`.
//
// At a fixed rate, latency is measured from when each request was due, not
// from when it was sent: a server that stalls is charged for the requests
// it held up (no coordinated omission). The generator's own lateness (its
// timer waking after the due time: half a millisecond, typically, on a
// small VM) is not charged: a request's clock starts when the scheduler
// woke to send it.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Config is one run.
type Config struct {
	// BaseURL is the server, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Path is the read's path, with {id} where the key goes:
	// /api/users/{id}, /api/jobs/{id}, /api/users/{id}/jobs?limit=50.
	Path string
	// Keys are drawn from 1..Keys.
	Keys int
	// Zipf draws keys from a Zipf law of exponent 1.1 (key 1 the hottest)
	// instead of uniformly.
	Zipf bool
	// WriteShare of the requests are writes: PATCH WritePath with
	// WriteBody, in which {n} is a random number below 100. WritePath
	// defaults to /api/users/{id}, WriteBody to a new name. WriteKeys,
	// when set, are the keys writes are drawn from (uniformly), instead of
	// the reads' keys: the jobs a write may change, say.
	WriteShare float64
	WritePath  string
	WriteBody  string
	WriteKeys  []int
	// Concurrency is the number of requests in flight at most.
	Concurrency int
	// Rate, when positive, sends this many requests a second (open loop);
	// otherwise each of Concurrency workers sends its next request when the
	// last one answers (closed loop).
	Rate int
	// Duration is how long to run; Warmup runs first and is not measured.
	Duration, Warmup time.Duration
	// Progress receives a line a second while the run goes on; nil: none.
	Progress io.Writer
	// Seed makes the key sequence repeatable.
	Seed uint64
}

func (c *Config) validate() error {
	switch {
	case c.BaseURL == "":
		return errors.New("loadgen: no base URL")
	case !strings.Contains(c.Path, "{id}") && c.Keys > 1:
		return fmt.Errorf("loadgen: path %q has no {id} for %d keys", c.Path, c.Keys)
	case c.Keys < 1:
		return fmt.Errorf("loadgen: keys %d: want at least 1", c.Keys)
	case c.Concurrency < 1:
		return fmt.Errorf("loadgen: concurrency %d: want at least 1", c.Concurrency)
	case c.Duration <= 0:
		return fmt.Errorf("loadgen: duration %v: want a positive duration", c.Duration)
	case c.WriteShare < 0 || c.WriteShare > 1:
		return fmt.Errorf("loadgen: write share %v: want 0 to 1", c.WriteShare)
	case c.Rate < 0:
		return fmt.Errorf("loadgen: rate %d is negative", c.Rate)
	}
	if c.WritePath == "" {
		c.WritePath = "/api/users/{id}"
	}
	if c.WriteBody == "" {
		c.WriteBody = `{"name":"bench {n}"}`
	}
	return nil
}

// Result is what a run measured. Latencies are in microseconds.
type Result struct {
	Config     Config  `json:"-"`
	Requests   int64   `json:"requests"`
	Writes     int64   `json:"writes"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughputPerSecond"`
	P50        float64 `json:"p50us"`
	P90        float64 `json:"p90us"`
	P99        float64 `json:"p99us"`
	P999       float64 `json:"p999us"`
	Max        float64 `json:"maxus"`
	Mean       float64 `json:"meanus"`
	FirstError string  `json:"firstError,omitempty"`
}

// Run makes the run and returns what it measured.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: cfg.Concurrency * 2, MaxIdleConnsPerHost: cfg.Concurrency * 2,
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		},
	}
	defer client.CloseIdleConnections()
	if cfg.Warmup > 0 {
		w := cfg
		w.Duration, w.Progress = cfg.Warmup, nil
		if _, err := run(ctx, client, w, false); err != nil {
			return nil, err
		}
	}
	return run(ctx, client, cfg, true)
}

// run is one measured (or warm-up) phase.
func run(ctx context.Context, client *http.Client, cfg Config, measure bool) (*Result, error) {
	var (
		hists              = make([]*hdrhistogram.Histogram, cfg.Concurrency)
		requests, writes   atomic.Int64
		errs               atomic.Int64
		firstErr           atomic.Pointer[string]
		wg                 sync.WaitGroup
		start              = time.Now()
		deadline           = start.Add(cfg.Duration)
		slots              chan time.Time // open loop: when each request's clock starts
		runCtx, cancelRuns = context.WithDeadline(ctx, deadline)
	)
	defer cancelRuns()
	if cfg.Rate > 0 {
		slots = make(chan time.Time, cfg.Concurrency*4)
		go schedule(runCtx, slots, start, cfg.Rate)
	}
	stopProgress := progress(cfg.Progress, &requests, &errs, start)
	for w := range cfg.Concurrency {
		hists[w] = hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.Seed+uint64(w), uint64(w)*0x9e3779b97f4a7c15+1))
			next := keys(cfg, rng)
			for {
				due := time.Now()
				if slots != nil {
					select {
					case due = <-slots:
					case <-runCtx.Done():
						return
					}
				} else if !due.Before(deadline) {
					return
				}
				write := cfg.WriteShare > 0 && rng.Float64() < cfg.WriteShare
				key := next()
				if write && len(cfg.WriteKeys) > 0 {
					key = cfg.WriteKeys[rng.IntN(len(cfg.WriteKeys))]
				}
				err := call(runCtx, client, cfg, key, write)
				if runCtx.Err() != nil && time.Now().After(deadline) {
					return // cut off by the end of the run: not a result
				}
				hists[w].RecordValue(max(time.Since(due).Microseconds(), 1))
				requests.Add(1)
				if write {
					writes.Add(1)
				}
				if err != nil {
					errs.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
				}
			}
		})
	}
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start).Seconds()
	h := hdrhistogram.New(1, int64(60*time.Second/time.Microsecond), 3)
	for _, x := range hists {
		h.Merge(x)
	}
	r := &Result{
		Config: cfg, Requests: requests.Load(), Writes: writes.Load(), Errors: errs.Load(), Seconds: elapsed,
		Throughput: float64(requests.Load()) / elapsed,
		P50:        float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)),
		P99: float64(h.ValueAtQuantile(99)), P999: float64(h.ValueAtQuantile(99.9)),
		Max: float64(h.Max()), Mean: h.Mean(),
	}
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}

// schedule sends a request's start time, rate a second, from start: the
// due time, or when the timer woke if it woke late. A send that waits for
// a free worker (the server is slow) keeps its start time, so the wait is
// charged.
func schedule(ctx context.Context, slots chan<- time.Time, start time.Time, rate int) {
	defer close(slots)
	interval := time.Second / time.Duration(rate)
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		clock := due
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
				clock = time.Now() // the timer's lateness is not the server's
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		select {
		case slots <- clock:
		case <-ctx.Done():
			return
		}
	}
}

// keys returns the key sequence of one worker.
func keys(cfg Config, rng *rand.Rand) func() int {
	if cfg.Zipf && cfg.Keys > 1 {
		z := rand.NewZipf(rng, 1.1, 1, uint64(cfg.Keys-1))
		return func() int { return int(z.Uint64()) + 1 }
	}
	return func() int { return rng.IntN(cfg.Keys) + 1 }
}

// call makes one request; a status other than 2xx is an error.
func call(ctx context.Context, client *http.Client, cfg Config, key int, write bool) error {
	id := fmt.Sprint(key)
	var req *http.Request
	var err error
	if write {
		body := strings.ReplaceAll(cfg.WriteBody, "{n}", strconv.Itoa(rand.IntN(100)))
		req, err = http.NewRequestWithContext(ctx, http.MethodPatch, cfg.BaseURL+strings.ReplaceAll(cfg.WritePath, "{id}", id), bytes.NewBufferString(body))
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, cfg.BaseURL+strings.ReplaceAll(cfg.Path, "{id}", id), nil)
	}
	if err != nil {
		return err
	}
	if write {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
	}
	return err
}

// progress prints a line a second until stopped.
func progress(w io.Writer, requests, errs *atomic.Int64, start time.Time) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := requests.Load()
				fmt.Fprintf(w, "  %5.0fs  %9.0f req/s  %d requests  %d errors\n",
					now.Sub(start).Seconds(), float64(n-last)/now.Sub(lastAt).Seconds(), n, errs.Load())
				last, lastAt = n, now
			}
		}
	}()
	return func() { close(done); <-finished }
}
