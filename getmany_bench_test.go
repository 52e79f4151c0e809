package aside_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// BenchmarkGetMany reads a warm batch of 100 users (~200 bytes of JSON
// each) beside a raw rueidis MGET of the same 100 keys' bytes, in the same
// run: the target is aside-redis within 1.2x of raw-mget, and
// aside-redis-near under 10 µs.
//
//	go test -run '^$' -bench GetMany -count 10 . | benchstat -
func BenchmarkGetMany(b *testing.B) {
	const n = 100
	addr := redistest.Shared(b).Addr
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	load := func(_ context.Context, missing []string) (map[string]User, error) {
		out := make(map[string]User, len(missing))
		for _, id := range missing {
			out[id] = benchUser()
		}
		return out, nil
	}
	cfg := aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
	warm := func(b *testing.B, c *aside.Cache) *aside.Namespace[User] {
		users := newNamespace[User](b, c, cfg)
		for range 3 { // fill, then read into memory where there is a near cache
			if _, err := users.GetMany(context.Background(), ids, load); err != nil {
				b.Fatal(err)
			}
		}
		return users
	}
	getMany := func(users *aside.Namespace[User]) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			got, err := users.GetMany(ctx, ids, load)
			if err == nil && len(got) != n {
				err = fmt.Errorf("%d values", len(got))
			}
			return err
		}
	}

	b.Run("aside-memstore", func(b *testing.B) {
		runHit(b, getMany(warm(b, newCache(b, newMemstore(b), aside.Options{}))))
	})
	b.Run("aside-redis", func(b *testing.B) {
		runHit(b, getMany(warm(b, newCache(b, newRedisStore(b, addr), aside.Options{}))))
	})
	b.Run("aside-redis-encoded", func(b *testing.B) {
		users := warm(b, newCache(b, newRedisStore(b, addr), aside.Options{}))
		runHit(b, func(ctx context.Context) error {
			_, err := users.GetManyEncoded(ctx, ids, load)
			return err
		})
	})
	b.Run("aside-redis-near", func(b *testing.B) {
		c := newCache(b, newRedisStore(b, addr), aside.Options{NearCache: aside.NearCacheOptions{Enabled: true}})
		users := warm(b, c)
		if c.Stats().NearHits == 0 {
			b.Fatal("nothing kept in memory")
		}
		runHit(b, getMany(users))
	})
	b.Run("raw-mget", func(b *testing.B) {
		s := newRedisStore(b, addr)
		client := s.Client()
		raw, _ := json.Marshal(benchUser())
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "bench:mget:" + ids[i]
			client.Do(context.Background(), client.B().Set().Key(keys[i]).Value(string(raw)).Build())
		}
		runHit(b, func(ctx context.Context) error {
			_, err := client.Do(ctx, client.B().Mget().Key(keys...).Build()).ToArray()
			return err
		})
	})
	b.Run("aside-redis-get-each", func(b *testing.B) {
		users := warm(b, newCache(b, newRedisStore(b, addr), aside.Options{}))
		one := func(ctx context.Context) (User, error) { return benchUser(), nil }
		runHit(b, func(ctx context.Context) error {
			for _, id := range ids {
				if _, err := users.Get(ctx, id, one); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
