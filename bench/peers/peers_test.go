// Package peers benchmarks aside beside other Go caching libraries, in the
// same run. It is a module of its own so that aside does not depend on them.
//
//	cd bench/peers && go test -bench . -count 10 | benchstat -
package peers

import (
	"context"
	"testing"
	"time"

	gocache "github.com/go-redis/cache/v9"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// User is a row of about 200 bytes once encoded.
type User struct {
	ID        int64     `json:"id" msgpack:"id"`
	OpenID    string    `json:"openId" msgpack:"openId"`
	Name      string    `json:"name" msgpack:"name"`
	Email     string    `json:"email" msgpack:"email"`
	Role      string    `json:"role" msgpack:"role"`
	CreatedAt time.Time `json:"createdAt" msgpack:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt" msgpack:"updatedAt"`
}

var user = User{ID: 1, OpenID: "oid-0001", Name: "Ada Lovelace, Countess of Lovelace",
	Email: "ada@example.com", Role: "user",
	CreatedAt: time.Date(2026, 11, 26, 10, 30, 15, 123456789, time.UTC),
	UpdatedAt: time.Date(2026, 11, 26, 11, 30, 15, 123456789, time.UTC)}

func run(b *testing.B, hit func(ctx context.Context) error) {
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := hit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := hit(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkLocalHit: a hit of an in-process cache, the same struct, read
// through each library's read-through call.
func BenchmarkLocalHit(b *testing.B) {
	b.Run("aside-memstore", func(b *testing.B) {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := aside.New(s, aside.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		load := func(context.Context) (User, error) { return user, nil }
		run(b, func(ctx context.Context) error {
			_, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("goredis-cache-once", func(b *testing.B) {
		c := gocache.New(&gocache.Options{LocalCache: gocache.NewTinyLFU(10_000, time.Hour)})
		run(b, func(ctx context.Context) error {
			var u User
			return c.Once(&gocache.Item{Ctx: ctx, Key: "user:1", Value: &u, TTL: time.Hour,
				Do: func(*gocache.Item) (any, error) { return user, nil }})
		})
	})
	b.Run("goredis-cache-get", func(b *testing.B) {
		c := gocache.New(&gocache.Options{LocalCache: gocache.NewTinyLFU(10_000, time.Hour)})
		if err := c.Set(&gocache.Item{Key: "user:1", Value: user, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
		run(b, func(ctx context.Context) error {
			var u User
			return c.Get(ctx, "user:1", &u)
		})
	})
}
