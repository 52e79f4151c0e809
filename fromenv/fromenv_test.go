package fromenv_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/fromenv"
	"github.com/aside-cache/aside/redistest"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// No Redis configured: the in-process store, which always answers.
func TestOpenWithoutRedisIsInProcess(t *testing.T) {
	cfg, err := fromenv.Read(env(map[string]string{"ASIDE_KEY_PREFIX": "products:", "ASIDE_MEMSTORE_MAX_BYTES": "8MiB"}))
	if err != nil || cfg.Redis != nil || cfg.MemstoreMaxBytes != 8<<20 || cfg.Options.KeyPrefix != "products:" || cfg.Options.NearCache.Enabled {
		t.Fatalf("Read = %+v, %v; want the in-process store of 8 MiB under products:, no near cache", cfg, err)
	}
	c, err := cfg.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping of the in-process store = %v", err)
	}
	if c.KeyPrefix() != "products:" {
		t.Errorf("KeyPrefix = %q", c.KeyPrefix())
	}
}

// REDIS_URL: Redis, with the near cache on unless it is turned off;
// Ping tells a frozen Redis within OpTimeout.
func TestOpenWithRedis(t *testing.T) {
	srv := redistest.Start(t)
	for _, near := range []string{"", "off"} {
		c, err := fromenv.Open(env(map[string]string{"REDIS_URL": srv.URL(), "ASIDE_NEAR_CACHE": near, "ASIDE_OP_TIMEOUT": "50ms"}), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, want := c.Stats().Near != nil, near == ""; got != want {
			t.Errorf("ASIDE_NEAR_CACHE=%q: near cache %v; want %v", near, got, want)
		}
		ctx := context.Background()
		waitUntil(t, func() bool { return c.Ping(ctx) == nil })
		if err := srv.Pause(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = c.Ping(ctx)
		took := time.Since(start)
		srv.Resume()
		if !errors.Is(err, aside.ErrUnavailable) || took > 500*time.Millisecond {
			t.Errorf("Ping of a frozen Redis = %v after %v; want ErrUnavailable within OpTimeout (50 ms)", err, took)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// A bad value is an error naming its variable; a password never shows.
func TestBadValuesNameTheirVariable(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"ASIDE_OP_TIMEOUT":           {"ASIDE_OP_TIMEOUT": "1h"},
		"ASIDE_LOAD_TIMEOUT":         {"ASIDE_LOAD_TIMEOUT": "soon"},
		"ASIDE_NEAR_CACHE":           {"ASIDE_NEAR_CACHE": "yes"},
		"ASIDE_NEAR_CACHE_MAX_BYTES": {"ASIDE_NEAR_CACHE_MAX_BYTES": "-1"},
		"ASIDE_MEMSTORE_MAX_BYTES":   {"ASIDE_MEMSTORE_MAX_BYTES": "lots"},
		"REDIS_PORT":                 {"REDIS_PORT": "http", "REDIS_PASSWORD": "s3cret-pw"},
	} {
		_, err := fromenv.Read(env(vars))
		variable, _, _ := strings.Cut(name, "=")
		if err == nil || !strings.Contains(err.Error(), variable) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Read with a bad %s = %v; want an error naming it, no password", name, err)
		}
	}
}

// OptionsFromEnv leaves unset variables to the defaults.
func TestOptionsFromEnv(t *testing.T) {
	o, err := aside.OptionsFromEnv(env(map[string]string{"ASIDE_OP_TIMEOUT": "250ms", "ASIDE_LOAD_TIMEOUT": "2s", "ASIDE_NEAR_CACHE": "ON", "ASIDE_NEAR_CACHE_MAX_BYTES": "1GiB"}))
	if err != nil || o.OpTimeout != 250*time.Millisecond || o.LoadTimeout != 2*time.Second || !o.NearCache.Enabled || o.NearCache.MaxBytes != 1<<30 {
		t.Errorf("OptionsFromEnv = %+v, %v", o, err)
	}
	if o, err := aside.OptionsFromEnv(env(nil)); err != nil || o.OpTimeout != 0 || o.KeyPrefix != "" || o.NearCache.Enabled {
		t.Errorf("OptionsFromEnv of nothing = %+v, %v; want the zero Options", o, err)
	}
}
