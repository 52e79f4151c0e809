package redisstore_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
	"github.com/aside-cache/aside/storetest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func newStore(t *testing.T, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(opts)
	if err != nil {
		t.Fatalf("redisstore.New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for s.Ping(ctx) != nil {
		if ctx.Err() != nil {
			t.Fatalf("Redis at %+v never answered", opts)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func TestConformanceStandalone(t *testing.T) {
	s := newStore(t, redisstore.Options{URL: redistest.Shared(t).URL()})
	storetest.Run(t, func(*testing.T) aside.Store { return s })
}

func TestConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	s := newStore(t, redisstore.Options{Addrs: c.Addrs()})
	storetest.Run(t, func(*testing.T) aside.Store { return s })
}

func TestStartsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	s, err := redisstore.New(redisstore.Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatalf("New with Redis down = %v; want a store that connects later", err)
	}
	defer s.Close()
	_, _, err = s.Get(context.Background(), "k")
	if !errors.Is(err, redisstore.ErrNotConnected) {
		t.Fatalf("Get with Redis down = %v; want ErrNotConnected", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for s.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store never connected after Redis came up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set after connecting: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, opts := range []redisstore.Options{
		{URL: "http://127.0.0.1:6379"},
		{URL: "redis://127.0.0.1:6379/x"},
		{URL: "redis://a", Addrs: []string{"b:1"}},
		{Addrs: []string{"no-port"}},
		{DB: -1},
		{DialTimeout: -time.Second},
	} {
		if s, err := redisstore.New(opts); err == nil {
			s.Close()
			t.Errorf("New(%+v) = nil error; want one", opts)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	tests := []struct {
		env        map[string]string
		want       redisstore.Options
		configured bool
		err        bool
	}{
		{env: nil, configured: false},
		{env: map[string]string{"REDIS_URL": "rediss://u:p@h:1/2"}, want: redisstore.Options{URL: "rediss://u:p@h:1/2"}, configured: true},
		{env: map[string]string{"REDIS_HOST": "h"}, want: redisstore.Options{Addrs: []string{"h:6379"}}, configured: true},
		{env: map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "7000", "REDIS_PASSWORD": "pw", "REDIS_DB": "3"},
			want: redisstore.Options{Addrs: []string{"h:7000"}, Password: "pw", DB: 3}, configured: true},
		{env: map[string]string{"REDIS_PORT": "7001"}, want: redisstore.Options{Addrs: []string{"localhost:7001"}}, configured: true},
		{env: map[string]string{"REDIS_PASSWORD": "pw"}, configured: false},
		{env: map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "x"}, configured: true, err: true},
		{env: map[string]string{"REDIS_HOST": "h", "REDIS_DB": "-1"}, configured: true, err: true},
	}
	for _, tt := range tests {
		got, configured, err := redisstore.FromEnv(env(tt.env))
		if (err != nil) != tt.err || configured != tt.configured {
			t.Errorf("FromEnv(%v) = configured %v, err %v; want %v, err %v", tt.env, configured, err, tt.configured, tt.err)
			continue
		}
		if !tt.err && (got.URL != tt.want.URL || got.Password != tt.want.Password || got.DB != tt.want.DB ||
			len(got.Addrs) != len(tt.want.Addrs) || (len(got.Addrs) > 0 && got.Addrs[0] != tt.want.Addrs[0])) {
			t.Errorf("FromEnv(%v) = %+v; want %+v", tt.env, got, tt.want)
		}
	}
}

func TestConformanceSentinel(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, "aside-master", master)
	s := newStore(t, redisstore.Options{Addrs: []string{sentinel.Addr}, MasterSet: "aside-master"})
	storetest.Run(t, func(*testing.T) aside.Store { return s })
	// The data went to the master the Sentinel named.
	if n, err := redistest.Do(master.Addr, "DBSIZE"); err != nil || n == "0" {
		t.Errorf("master DBSIZE = %q, %v; want the suite's keys there", n, err)
	}
}

func TestPasswordAndDB(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	u := "redis://:s3cret@" + srv.Addr + "/3"
	s := newStore(t, redisstore.Options{URL: u})
	if err := s.Set(context.Background(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set with password and db 3: %v", err)
	}
	if _, err := redistest.Do(srv.Addr, "PING"); err == nil {
		t.Error("the server answered without a password; the test proves nothing")
	}
	wrong, err := redisstore.New(redisstore.Options{URL: "redis://:wrong@" + srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Ping(context.Background()); err == nil {
		t.Error("Ping with a wrong password succeeded")
	}
}
