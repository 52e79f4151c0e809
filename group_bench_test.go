package aside_test

import (
	"context"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// BenchmarkGroupHit is a hit of a namespace with one group beside the same
// hit without groups, in the same run: the cost of a group on the hit
// path (on Redis, the token read in the same MGET; with the near cache,
// from memory).
//
//	go test -run '^$' -bench GroupHit -count 10 . | benchstat -
func BenchmarkGroupHit(b *testing.B) {
	addr := redistest.Shared(b).Addr
	user := benchUser()
	load := mustLoad(user)
	plain := aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
	grouped := plain
	grouped.Groups = func(string) []string { return []string{"team:7"} }
	stores := []struct {
		name string
		opts aside.Options
		mem  bool
	}{
		{"memstore", aside.Options{}, true},
		{"redis", aside.Options{}, false},
		{"redis-near", aside.Options{NearCache: aside.NearCacheOptions{Enabled: true}}, false},
	}
	for _, s := range stores {
		for name, cfg := range map[string]aside.NamespaceConfig{"plain": plain, "group": grouped} {
			b.Run(s.name+"/"+name, func(b *testing.B) {
				var store aside.Store = newMemstore(b)
				if !s.mem {
					store = newRedisStore(b, addr)
				}
				users := newNamespace[User](b, newCache(b, store, s.opts), cfg)
				ctx := context.Background()
				for range 3 { // filled, then read into memory where there is a near cache
					if _, err := users.Get(ctx, "1", load); err != nil {
						b.Fatal(err)
					}
				}
				runHit(b, func(ctx context.Context) error {
					_, err := users.Get(ctx, "1", load)
					return err
				})
			})
		}
	}
}
