package aside_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

// BenchmarkIDNamespaceHit is a hit by an integer id beside the same hit by
// a string id, and by the strconv a caller would write without
// IDNamespace, in the same run.
//
//	go test -run '^$' -bench IDNamespaceHit -count 10 . | benchstat -
func BenchmarkIDNamespaceHit(b *testing.B) {
	load := mustLoad(benchUser())
	cfg := aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
	const id = 123456
	c := newCache(b, newMemstore(b), aside.Options{})
	byID, err := aside.NewIDNamespace[int64, User](c, cfg)
	if err != nil {
		b.Fatal(err)
	}
	users := byID.Namespace()
	ctx := context.Background()
	if _, err := byID.Get(ctx, id, load); err != nil {
		b.Fatal(err)
	}
	b.Run("string-id", func(b *testing.B) {
		runHit(b, func(ctx context.Context) error { _, err := users.Get(ctx, "123456", load); return err })
	})
	b.Run("int64-id", func(b *testing.B) {
		runHit(b, func(ctx context.Context) error { _, err := byID.Get(ctx, id, load); return err })
	})
	b.Run("strconv-then-string-id", func(b *testing.B) {
		n := int64(id)
		runHit(b, func(ctx context.Context) error { _, err := users.Get(ctx, strconv.FormatInt(n, 10), load); return err })
	})
}
