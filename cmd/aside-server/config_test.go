package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside/redisstore"
)

// The start-up log names Redis by its addresses, never by a URL that may
// carry a password.
func TestRedisAddress(t *testing.T) {
	for _, c := range []struct {
		opts redisstore.Options
		want string
	}{
		{redisstore.Options{URL: "redis://127.0.0.1:6379/0"}, "127.0.0.1:6379"},
		{redisstore.Options{URL: "rediss://app:s3cret@cache.internal:6380/2"}, "cache.internal:6380"},
		{redisstore.Options{URL: "redis://:s3cret@a:7000?addr=b:7001&addr=c:7002"}, "a:7000,b:7001,c:7002"},
		{redisstore.Options{URL: "unix:///run/redis.sock"}, "/run/redis.sock"},
		{redisstore.Options{URL: "redis://u:s3cret@[::1"}, "(a REDIS_URL that does not parse)"},
		{redisstore.Options{Addrs: []string{"r1:6379", "r2:6379"}, Password: "s3cret"}, "r1:6379,r2:6379"},
	} {
		if got := redisAddress(c.opts); got != c.want {
			t.Errorf("redisAddress(%+v) = %q; want %q", c.opts, got, c.want)
		}
	}
}

// The environment read as documented; a bad value is an error naming the
// variable, never a guess.
func TestReadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cfg, err := readConfig(env(nil))
	if err != nil || cfg.addr != ":8080" || cfg.cache.Redis != nil || cfg.cacheOff || !cfg.seed || cfg.cache.Options.KeyPrefix != "aside:" ||
		cfg.cache.Options.OpTimeout != 0 || cfg.cache.Options.NearCache.Enabled {
		t.Errorf("readConfig of an empty environment = %+v, %v; want the defaults", cfg, err)
	}
	cfg, err = readConfig(env(map[string]string{
		"ADDR": "127.0.0.1:9000", "REDIS_HOST": "r", "ASIDE_CACHE": "OFF", "ASIDE_SEED": "off",
		"ASIDE_KEY_PREFIX": "app:", "ASIDE_OP_TIMEOUT": "250ms", "ASIDE_MEMSTORE_MAX_BYTES": "256MiB", "ASIDE_LOG_LEVEL": "warn",
	}))
	if err != nil || cfg.addr != "127.0.0.1:9000" || cfg.cache.Redis == nil || cfg.cache.Redis.Addrs[0] != "r:6379" || !cfg.cacheOff ||
		cfg.seed || cfg.cache.Options.KeyPrefix != "app:" || cfg.cache.Options.OpTimeout != 250*time.Millisecond ||
		cfg.cache.MemstoreMaxBytes != 256<<20 || cfg.logLevel != slog.LevelWarn {
		t.Errorf("readConfig = %+v, %v; want every variable read", cfg, err)
	}
	for name, value := range map[string]string{
		"ASIDE_CACHE": "maybe", "ASIDE_SEED": "yes", "ASIDE_OP_TIMEOUT": "fast", "ASIDE_MEMSTORE_MAX_BYTES": "-1",
		"ASIDE_LOG_LEVEL": "loud", "REDIS_PORT": "x", "ASIDE_NEAR_CACHE": "maybe", "ASIDE_NEAR_CACHE_MAX_BYTES": "lots",
	} {
		if _, err := readConfig(env(map[string]string{name: value})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("readConfig with %s=%q = %v; want an error naming %s", name, value, err, name)
		}
	}
	for _, c := range []struct {
		vars map[string]string
		want bool
	}{
		{map[string]string{"REDIS_HOST": "r"}, true},
		{map[string]string{"REDIS_HOST": "r", "ASIDE_NEAR_CACHE": "off"}, false},
		{map[string]string{"ASIDE_NEAR_CACHE": "on"}, false},
	} {
		if cfg, err := readConfig(env(c.vars)); err != nil || cfg.cache.Options.NearCache.Enabled != c.want {
			t.Errorf("readConfig(%v): near cache on = %v, %v; want %v: on by default with Redis, never without", c.vars, cfg.cache.Options.NearCache.Enabled, err, c.want)
		}
	}
	if cfg, err := readConfig(env(map[string]string{"REDIS_HOST": "r", "ASIDE_NEAR_CACHE_MAX_BYTES": "8MiB"})); err != nil || cfg.cache.Options.NearCache.MaxBytes != 8<<20 {
		t.Errorf("ASIDE_NEAR_CACHE_MAX_BYTES=8MiB: %+v, %v", cfg.cache.Options.NearCache, err)
	}
	for _, d := range []string{"0s", "-1s", "2m"} {
		if _, err := readConfig(env(map[string]string{"ASIDE_OP_TIMEOUT": d})); err == nil {
			t.Errorf("ASIDE_OP_TIMEOUT=%s accepted; want an error", d)
		}
	}
}

// An admin token short enough to guess, or padded with whitespace (which
// no bearer header carries: it would be "set" and never match), stops the
// server at start with an error that names the variable and not the token.
func TestAWeakAdminTokenIsRefused(t *testing.T) {
	env := func(token string) func(string) string {
		return func(k string) string {
			if k == "ASIDE_ADMIN_TOKEN" {
				return token
			}
			return ""
		}
	}
	for _, token := range []string{"a", "s3cret", "fifteen-bytes-x", " padded-admin-token-0123", "padded-admin-token-0123\n", "\tpadded-admin-token-0123", "inner\x00control-admin-token"} {
		_, err := readConfig(env(token))
		if err == nil || !strings.Contains(err.Error(), "ASIDE_ADMIN_TOKEN") || len(token) > 3 && strings.Contains(err.Error(), strings.TrimSpace(token)) {
			t.Errorf("ASIDE_ADMIN_TOKEN=%q: readConfig = %v; want an error naming the variable, not the token", token, err)
		}
	}
	for _, token := range []string{"", "sixteen-bytes-ok", "a-long-random-admin-token-0123456789"} {
		if cfg, err := readConfig(env(token)); err != nil || cfg.adminToken != token {
			t.Errorf("ASIDE_ADMIN_TOKEN=%q: readConfig = %q, %v; want it taken", token, cfg.adminToken, err)
		}
	}
}
