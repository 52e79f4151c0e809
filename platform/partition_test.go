package platform_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/platform/sqldb"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

// instance is a repository over db, caching in the Redis at url, as one
// server of a deployment does.
func instance(t *testing.T, dbURL, url string) *platform.Repository {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := redisstore.New(redisstore.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	c, err := aside.New(store, aside.Options{KeyPrefix: "partition:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r, err := platform.NewRepository(db, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A session ended on an instance cut off from Redis (sign-out everywhere:
// the database forgets it, the cache cannot be told) is honoured by
// another instance until the session's cache entry expires, within
// SessionCacheTTL and its jitter: then the other instance reads the
// database again. The entry lived the guide's 24 hours, which an instance
// that stopped before it reached Redis again left standing.
func TestASessionEndedWhereRedisIsUnreachableEndsEverywhereWithinItsCacheTTL(t *testing.T) {
	redis := redistest.Start(t)
	cutOff := redistest.NewProxy(t, redis.Addr)
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a := instance(t, dbURL, cutOff.URL())
	b := instance(t, dbURL, redis.URL())
	ctx := context.Background()

	if _, err := a.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "erin", Password: testPassword}); err != nil {
		t.Fatal(err)
	}
	token, _, err := a.NewSession(ctx, "erin", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	erin, err := b.ActorOf(ctx, token) // cached in Redis
	if err != nil {
		t.Fatal(err)
	}
	cutOff.Cut()
	if err := a.EndAllSessions(ctx, erin); err != nil {
		t.Fatalf("sign-out everywhere with Redis out of reach = %v; want it done in the database", err)
	}
	if _, err := a.ActorOf(ctx, token); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("the ended session on its own instance = %v; want ErrUnauthorized", err)
	}

	sum := sha256.Sum256([]byte(token))
	key := "partition:session:" + hex.EncodeToString(sum[:])
	ttl, err := redistest.Do(redis.Addr, "PTTL", key)
	if ms, _ := strconv.Atoi(ttl); err != nil || ms <= 0 || time.Duration(ms)*time.Millisecond > platform.SessionCacheTTL*11/10 {
		t.Fatalf("the ended session's cache entry expires in %s ms (%v); want within %v and its jitter", ttl, err, platform.SessionCacheTTL)
	}
	redistest.Do(redis.Addr, "PEXPIRE", key, "1") // its time is up
	time.Sleep(10 * time.Millisecond)
	if _, err := b.ActorOf(ctx, token); !errors.Is(err, platform.ErrUnauthorized) {
		t.Errorf("the ended session on another instance once its entry expired = %v; want ErrUnauthorized", err)
	}
}
