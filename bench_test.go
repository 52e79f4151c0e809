package aside_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/rueidis"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redisstore"
)

// Benchmarks of a cache hit, each beside the raw client it wraps, in the
// same run: compare aside-redis with raw-rueidis and aside-memstore
// with raw-otter. "parallel" runs 64 goroutines (32 per P on 2 cores).
//
//	make bench   # -count=10, summarised by benchstat

const benchGoroutinesPerProc = 32

func benchUser() User {
	u := sampleUser(1)
	u.Name = "Ada Lovelace, Countess of Lovelace"
	return u // about 200 bytes of JSON
}

func runHit(b *testing.B, hit func(ctx context.Context) error) {
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
		b.SetParallelism(benchGoroutinesPerProc)
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

func mustLoad[T any](v T) func(context.Context) (T, error) {
	return func(context.Context) (T, error) { return v, nil }
}

func BenchmarkHit(b *testing.B) {
	user := benchUser()
	load := mustLoad(user)

	b.Run("aside-memstore", func(b *testing.B) {
		c := newCache(b, newMemstore(b), aside.Options{})
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("aside-memstore-encoded", func(b *testing.B) {
		c := newCache(b, newMemstore(b), aside.Options{})
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSetEncoded(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("raw-otter", func(b *testing.B) {
		o := otter.Must(&otter.Options[string, User]{MaximumSize: 10_000})
		o.Set("aside:user:1", user)
		runHit(b, func(context.Context) error {
			if _, ok := o.GetIfPresent("aside:user:1"); !ok {
				b.Fatal("miss")
			}
			return nil
		})
	})

	addr := sharedAddr(b)
	b.Run("aside-redis", func(b *testing.B) {
		c := newCache(b, newRedisStore(b, addr), aside.Options{})
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("aside-redis-encoded", func(b *testing.B) {
		c := newCache(b, newRedisStore(b, addr), aside.Options{})
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSetEncoded(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("aside-redis-string", func(b *testing.B) {
		c := newCache(b, newRedisStore(b, addr), aside.Options{})
		raw, _ := json.Marshal(user)
		loadString := mustLoad(string(raw))
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, loadString)
			return err
		})
	})
	b.Run("aside-redis-near", func(b *testing.B) {
		c := warmNear(b, addr, load)
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("aside-redis-near-encoded", func(b *testing.B) {
		c := warmNear(b, addr, load)
		runHit(b, func(ctx context.Context) error {
			_, err := aside.GetOrSetEncoded(ctx, c, "user:1", time.Hour, load)
			return err
		})
	})
	b.Run("raw-rueidis-docache", func(b *testing.B) {
		client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}})
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		raw, _ := json.Marshal(user)
		ctx := context.Background()
		client.Do(ctx, client.B().Set().Key("bench:docache").Value(string(raw)).Build())
		runHit(b, func(ctx context.Context) error {
			_, err := client.DoCache(ctx, client.B().Get().Key("bench:docache").Cache(), time.Hour).AsBytes()
			return err
		})
	})
	b.Run("raw-rueidis", func(b *testing.B) {
		s := newRedisStore(b, addr)
		defer s.Close()
		raw, _ := json.Marshal(user)
		rawGet(b, s, raw)
	})
	b.Run("raw-rueidis-decode", func(b *testing.B) {
		s := newRedisStore(b, addr)
		defer s.Close()
		raw, _ := json.Marshal(user)
		client := s.Client()
		client.Do(context.Background(), client.B().Set().Key("bench:raw").Value(string(raw)).Build())
		runHit(b, func(ctx context.Context) error {
			data, err := client.Do(ctx, client.B().Get().Key("bench:raw").Build()).AsBytes()
			if err != nil {
				return err
			}
			var u User
			return json.Unmarshal(data, &u)
		})
	})
}

// warmNear returns a cache with a near cache that holds user:1.
func warmNear(b *testing.B, addr string, load func(context.Context) (User, error)) *aside.Cache {
	c := newCache(b, newRedisStore(b, addr), aside.Options{NearCache: aside.NearCacheOptions{Enabled: true}})
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().NearHits == 0 {
		if time.Now().After(deadline) {
			b.Fatal("user:1 never kept in memory")
		}
		aside.GetOrSet(ctx, c, "user:1", time.Hour, load)
	}
	return c
}

// rawGet is the baseline: one rueidis GET of the same bytes, no decoding.
func rawGet(b *testing.B, s *redisstore.Store, value []byte) {
	client := s.Client()
	ctx := context.Background()
	if err := client.Do(ctx, client.B().Set().Key("bench:raw").Value(string(value)).Build()).Error(); err != nil {
		b.Fatal(err)
	}
	runHit(b, func(ctx context.Context) error {
		_, err := client.Do(ctx, client.B().Get().Key("bench:raw").Build()).AsBytes()
		return err
	})
}

// BenchmarkMiss measures a miss that loads and fills, on memstore: the
// cost the cache adds around a loader.
func BenchmarkMissFill(b *testing.B) {
	c := newCache(b, newMemstore(b), aside.Options{})
	load := mustLoad(benchUser())
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		c.Delete(ctx, "user:1")
		if _, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, load); err != nil {
			b.Fatal(err)
		}
	}
}
