package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aside-cache/aside/cmd/internal/loadgen"
)

// benchRecord is what `aside bench -json` writes: the run's label, its
// configuration, what it measured, and the server's cache before and after.
type benchRecord struct {
	Label       string          `json:"label"`
	Group       string          `json:"group,omitempty"`
	URL         string          `json:"url"`
	Path        string          `json:"path"`
	Keys        int             `json:"keys"`
	Zipf        bool            `json:"zipf"`
	WriteShare  float64         `json:"writeShare"`
	Concurrency int             `json:"concurrency"`
	Rate        int             `json:"rate"`
	Duration    string          `json:"duration"`
	Result      *loadgen.Result `json:"result"`
	Cache       *cacheDelta     `json:"cache,omitempty"`
	At          time.Time       `json:"at"`
}

// cacheDelta is how the server's cache moved during the run.
type cacheDelta struct {
	HitRateBefore float64 `json:"hitRateBefore"`
	HitRateAfter  float64 `json:"hitRateAfter"`
	// HitRateDuring is hits / (hits + misses) over the run alone.
	HitRateDuring float64 `json:"hitRateDuring"`
	// LoadsPer1000 is loader calls (database queries of reads) per 1,000
	// requests during the run.
	LoadsPer1000 float64 `json:"loadsPer1000"`
	Loads        uint64  `json:"loads"`
}

func runBench(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	var cfg loadgen.Config
	rec := benchRecord{}
	fs.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8080", "the server")
	fs.StringVar(&cfg.Path, "path", "/api/users/{id}", "the path read, {id} standing for the key")
	fs.IntVar(&cfg.Keys, "keys", 1000, "keys are drawn from 1..keys")
	fs.BoolVar(&cfg.Zipf, "zipf", false, "draw keys from a Zipf law (s=1.1) instead of uniformly")
	fs.Float64Var(&cfg.WriteShare, "writes", 0, "share of requests that are writes (PATCH -write-path)")
	fs.StringVar(&cfg.WritePath, "write-path", "/api/users/{id}", "the path written")
	fs.StringVar(&cfg.WriteBody, "write-body", `{"name":"bench {n}"}`, "the body of a write, {n} a random number below 100")
	writeKeys := fs.String("write-keys", "", "comma-separated keys writes are drawn from (default: the reads' keys)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "requests in flight at most")
	fs.IntVar(&cfg.Rate, "rate", 0, "requests a second (open loop); 0: as fast as -concurrency allows")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "how long to run first, unmeasured")
	seed := fs.Uint64("seed", 1, "seed of the key sequence")
	jsonOut := fs.String("json", "", "also write the record as JSON to this file")
	fs.StringVar(&rec.Label, "label", "", "a label for the record (reports group and name runs by it)")
	fs.StringVar(&rec.Group, "group", "", "the group of the record in reports")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Seed = *seed
	for _, k := range strings.FieldsFunc(*writeKeys, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(k))
		if err != nil || n < 1 {
			return fmt.Errorf("-write-keys: %q is not a key (a positive integer)", k)
		}
		cfg.WriteKeys = append(cfg.WriteKeys, n)
	}
	if !*quiet {
		cfg.Progress = stderr
	}

	before, statsErr := fetchStats(ctx, cfg.BaseURL)
	fmt.Fprintf(stderr, "bench %s%s: %d keys (%s), %.0f%% writes, concurrency %d, %s, for %v after %v\n",
		cfg.BaseURL, cfg.Path, cfg.Keys, dist(cfg.Zipf), cfg.WriteShare*100, cfg.Concurrency, rate(cfg.Rate), cfg.Duration, cfg.Warmup)
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	rec.URL, rec.Path, rec.Keys, rec.Zipf, rec.WriteShare = cfg.BaseURL, cfg.Path, cfg.Keys, cfg.Zipf, cfg.WriteShare
	rec.Concurrency, rec.Rate, rec.Duration, rec.Result, rec.At = cfg.Concurrency, cfg.Rate, cfg.Duration.String(), res, time.Now().UTC()
	if statsErr == nil {
		if after, err := fetchStats(ctx, cfg.BaseURL); err == nil {
			rec.Cache = delta(before, after, res.Requests)
		}
	}
	printResult(stdout, &rec)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, &rec); err != nil {
			return err
		}
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d requests failed, the first: %s", res.Errors, res.Requests, res.FirstError)
	}
	return nil
}

// delta computes how the cache moved between two snapshots. The figures
// include the warm-up's, which a run's requests do not: the hit rate over
// the run is read from the totals' difference.
func delta(before, after cacheStats, requests int64) *cacheDelta {
	d := &cacheDelta{HitRateBefore: before.HitRate, HitRateAfter: after.HitRate, Loads: after.Loads - before.Loads}
	if h, m := after.Hits-before.Hits, after.Misses-before.Misses; h+m > 0 {
		d.HitRateDuring = float64(h) / float64(h+m) * 100
	}
	if requests > 0 {
		d.LoadsPer1000 = float64(d.Loads) / float64(requests) * 1000
	}
	return d
}

func dist(zipf bool) string {
	if zipf {
		return "Zipf s=1.1"
	}
	return "uniform"
}

func rate(r int) string {
	if r > 0 {
		return fmt.Sprintf("%d req/s", r)
	}
	return "closed loop"
}

func printResult(w io.Writer, rec *benchRecord) {
	r := rec.Result
	fmt.Fprintf(w, "%s\n  %.0f req/s over %.1fs: %d requests (%d writes), %d errors\n", label(rec), r.Throughput, r.Seconds, r.Requests, r.Writes, r.Errors)
	fmt.Fprintf(w, "  latency µs: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", r.P50, r.P90, r.P99, r.P999, r.Max)
	if c := rec.Cache; c != nil {
		fmt.Fprintf(w, "  cache: hit rate %.2f%% during the run (%.2f%% -> %.2f%% overall), %.1f loads per 1,000 requests\n",
			c.HitRateDuring, c.HitRateBefore, c.HitRateAfter, c.LoadsPer1000)
	}
}

func label(rec *benchRecord) string {
	if rec.Label != "" {
		return rec.Label
	}
	return rec.URL + rec.Path
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
