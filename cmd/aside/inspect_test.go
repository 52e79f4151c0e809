package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// aside inspect prints what a key holds: its kind, its times, its JSON.
func TestInspect(t *testing.T) {
	srv := redistest.Start(t)
	store, err := redisstore.New(redisstore.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := aside.New(store, aside.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, func(context.Context) (map[string]string, error) {
		return map[string]string{"name": "Ada"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, "inspect", "-redis", srv.URL(), "-key", "user:1")
	for _, want := range []string{"aside:user:1", "kind", "value", "fresh until", `"name": "Ada"`} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("aside inspect user:1 = %q, %v; want %q in it", out, err, want)
		}
	}
	if _, _, err := cli(t, "inspect", "-redis", srv.URL(), "-key", "user:404"); err == nil || !strings.Contains(err.Error(), "holds nothing") {
		t.Errorf("aside inspect of an empty key = %v; want it to say so", err)
	}
}
