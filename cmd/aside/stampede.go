package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// stampedeRecord is what `aside stampede` measured.
type stampedeRecord struct {
	Servers  int     `json:"servers"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Loads    uint64  `json:"loads"` // database queries the reads made, over all servers
	Millis   float64 `json:"millis"`
}

// runStampede clears one key in the shared cache, then sends -requests
// concurrent reads of it, spread evenly over the servers, all released at
// once, and counts the loader calls (database queries) they made in all.
func runStampede(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("stampede", stderr)
	urls := fs.String("urls", "http://127.0.0.1:8080", "the servers, comma-separated, sharing one Redis")
	path := fs.String("path", "/api/users/1", "the path read")
	pattern := fs.String("pattern", "user:1", "the key to clear first, relative to the prefix")
	requests := fs.Int("requests", 1000, "concurrent reads")
	token := fs.String("token", getenv("ASIDE_ADMIN_TOKEN"), "the admin token (default $ASIDE_ADMIN_TOKEN)")
	jsonOut := fs.String("json", "", "also write the record as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	servers := strings.Split(*urls, ",")
	if *requests <= 0 {
		return fmt.Errorf("-requests %d: want at least 1", *requests)
	}
	var cleared struct {
		Success bool
		Message string
	}
	if err := trpc(ctx, servers[0], "monitoring.cacheClearPattern", map[string]string{"pattern": *pattern}, *token, &cleared); err != nil {
		return fmt.Errorf("clear %s: %w", *pattern, err)
	}
	if !cleared.Success { // the key may still be cached: the reads would not be cold
		return fmt.Errorf("clear %s: %s", *pattern, cleared.Message)
	}
	loads := func() (uint64, error) {
		var sum uint64
		for _, s := range servers {
			st, err := fetchStats(ctx, s)
			if err != nil {
				return 0, err
			}
			sum += st.Loads
		}
		return sum, nil
	}
	before, err := loads()
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *requests}}
	release := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := 0
	for i := range *requests {
		url := servers[i%len(servers)] + *path
		wg.Go(func() {
			<-release
			resp, err := client.Get(url)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					err = fmt.Errorf("%s", resp.Status)
				}
			}
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	close(release)
	wg.Wait()
	rec := stampedeRecord{Servers: len(servers), Requests: *requests, Errors: errs, Millis: float64(time.Since(start).Microseconds()) / 1000}
	after, err := loads()
	if err != nil {
		return err
	}
	rec.Loads = after - before
	fmt.Fprintf(stdout, "%d concurrent cold reads of %s over %d servers: %d database queries, %d errors, %.1f ms\n",
		rec.Requests, *path, rec.Servers, rec.Loads, rec.Errors, rec.Millis)
	if *jsonOut != "" {
		return writeJSON(*jsonOut, rec)
	}
	return nil
}
