package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
)

// runInspect reads one key from Redis and prints what it holds: the kind
// of entry, its times, and its value's JSON (redis-cli shows the binary
// header of aside's envelope as escapes).
func runInspect(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", stderr)
	redisURL := fs.String("redis", getenv("REDIS_URL"), "the Redis (default $REDIS_URL)")
	prefix := fs.String("prefix", "aside:", "the cache's key prefix, put before -key unless it begins with it")
	key := fs.String("key", "", "the key: user:42, or aside:user:42")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *key == "" || *redisURL == "" {
		return fmt.Errorf("usage: aside inspect [-redis URL] [-prefix P] -key KEY")
	}
	return inspect(ctx, stdout, *redisURL, withPrefix(*key, *prefix))
}

// withPrefix is key with the cache's prefix before it, once.
func withPrefix(key, prefix string) string {
	if strings.HasPrefix(key, prefix) {
		return key
	}
	return prefix + key
}

// inspect prints what key holds in the Redis at redisURL.
func inspect(ctx context.Context, stdout io.Writer, redisURL, key string) error {
	store, err := redisstore.New(redisstore.Options{URL: redisURL})
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	data, found, err := store.Get(ctx, key)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("%q holds nothing", key)
	}
	e, err := aside.InspectEntry(data)
	if err != nil {
		return fmt.Errorf("%q: %w", key, err)
	}
	left, _, _ := store.TTL(ctx, key)
	printEntry(stdout, key, e, left)
	return nil
}

func printEntry(w io.Writer, key string, e aside.Entry, left time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "key\t%s\n", key)
	fmt.Fprintf(tw, "kind\t%s\n", e.Kind)
	fmt.Fprintf(tw, "expires in\t%v\n", left.Round(time.Millisecond))
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"fresh until", e.FreshUntil}, {"stale until", e.StaleUntil}, {"refresh after", e.RefreshAfter}, {"claimed until", e.ClaimUntil}} {
		if !t.at.IsZero() {
			fmt.Fprintf(tw, "%s\t%s (%v from now)\n", t.name, t.at.UTC().Format(time.RFC3339Nano), time.Until(t.at).Round(time.Millisecond))
		}
	}
	if e.Load > 0 {
		fmt.Fprintf(tw, "load took\t%v\n", e.Load)
	}
	if e.Shape != 0 {
		fmt.Fprintf(tw, "shape\t%016x\n", e.Shape)
	}
	tw.Flush()
	switch {
	case e.Kind == "value" && json.Valid(e.Payload):
		var out bytes.Buffer
		json.Indent(&out, e.Payload, "", "  ")
		fmt.Fprintf(w, "value:\n%s\n", out.Bytes())
	case len(e.Payload) > 0:
		fmt.Fprintf(w, "payload: %x\n", e.Payload)
	}
}
