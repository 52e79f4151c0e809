package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// newFlags returns a flag set whose errors and help go to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("aside "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses args; -h prints help and gives errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

// cacheStats is what monitoring.cacheStats returns, in the part the CLI reads.
type cacheStats struct {
	counts
	HitRateFormatted     string
	Breaker              string
	BreakerTrips         uint64
	PendingInvalidations int
	FillsRejected        uint64
	Namespaces           map[string]counts
}

// trpc calls a monitoring procedure and decodes its data into out.
func trpc(ctx context.Context, base, proc string, body any, token string, out any) error {
	method, r := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, _ := json.Marshal(body)
		method, r = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/trpc/"+proc, r)
	if err != nil {
		return err
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json") // a mutation's body must say so (CSRF)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Result struct{ Data json.RawMessage }
		Error  *struct {
			Message string
			Data    struct{ Code string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %s: %w", proc, resp.Status, err)
	}
	if env.Error != nil {
		return fmt.Errorf("%s: %s: %s", proc, env.Error.Data.Code, env.Error.Message)
	}
	return json.Unmarshal(env.Result.Data, out)
}

func fetchStats(ctx context.Context, base string) (cacheStats, error) {
	var s cacheStats
	err := trpc(ctx, base, "monitoring.cacheStats", nil, "", &s)
	return s, err
}

func runStats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("stats", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the server")
	asJSON := fs.Bool("json", false, "print JSON")
	watch := fs.Duration("watch", 0, "refresh every this long (2s, say), with rates a second, until Ctrl-C")
	frames := fs.Int("count", 0, "with -watch, stop after this many refreshes (0: never)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *watch < 0 || *frames < 0:
		return fmt.Errorf("-watch %v -count %d: want neither negative", *watch, *frames)
	case *watch > 0 && *asJSON:
		return errors.New("-watch and -json do not go together: use -json in a loop of your own")
	case *watch > 0:
		return watchStats(ctx, stdout, *url, max(*watch, 100*time.Millisecond), *frames, isTerminal(stdout))
	}
	s, err := fetchStats(ctx, *url)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "namespace\thits\tmisses\thit rate\tsets\tdeletes\terrors\tloads\t")
	names := make([]string, 0, len(s.Namespaces))
	for n := range s.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := s.Namespaces[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f%%\t%d\t%d\t%d\t%d\t\n", n, c.Hits, c.Misses, c.HitRate, c.Sets, c.Deletes, c.Errors, c.Loads)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t\n", s.Hits, s.Misses, s.HitRateFormatted, s.Sets, s.Deletes, s.Errors, s.Loads)
	tw.Flush()
	fmt.Fprintf(stdout, "breaker: %s; stale served %d, lease waits %d, fills rejected %d\n", s.Breaker, s.StaleServed, s.LeaseWaits, s.FillsRejected)
	return nil
}

func runClear(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("clear", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the server")
	pattern := fs.String("pattern", "", `clear only the keys matching this glob, relative to the prefix ("user:*"); empty: everything`)
	token := fs.String("token", getenv("ASIDE_ADMIN_TOKEN"), "the admin token (default $ASIDE_ADMIN_TOKEN)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var res struct {
		Success bool
		Deleted int
		Message string
	}
	stop := showClearProgress(ctx, stderr, *url, *pattern)
	var err error
	if *pattern == "" {
		err = trpc(ctx, *url, "monitoring.cacheClear", struct{}{}, *token, &res)
	} else {
		err = trpc(ctx, *url, "monitoring.cacheClearPattern", map[string]string{"pattern": *pattern}, *token, &res)
	}
	stop()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.Message)
	if !res.Success {
		return errors.New(strings.ToLower(res.Message))
	}
	return nil
}

// showClearProgress says, while a clear runs on the server, how many keys
// it has deleted so far: the server counts each batch as it goes, in
// deletes.
func showClearProgress(ctx context.Context, w io.Writer, base, pattern string) (stop func()) {
	what := "everything"
	if pattern != "" {
		what = pattern
	}
	before, err := fetchStats(ctx, base)
	if err != nil {
		return func() {} // the clear will say what is wrong
	}
	return showProgress(w, func() string {
		now, err := fetchStats(ctx, base)
		if err != nil || now.Deletes < before.Deletes {
			return fmt.Sprintf("clearing %s", what)
		}
		return fmt.Sprintf("clearing %s: %d keys deleted so far", what, now.Deletes-before.Deletes)
	})
}
