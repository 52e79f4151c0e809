package main

import (
	"testing"

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
