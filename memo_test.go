package aside_test

import (
	"context"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

// A Redis hit whose bytes are those last read for its key reuses their
// decoding; bytes that changed (another process's write, an invalidation
// and refill) are decoded afresh, so a read never returns what the store
// no longer holds. With the memo off, every hit decodes.
func TestDecodeMemo(t *testing.T) {
	srv := sharedAddr(t)
	prefix := uniquePrefix(t)
	codec := &countingCodec{}
	c := newCache(t, newRedisStore(t, srv), aside.Options{KeyPrefix: prefix, Codec: codec})
	other := newCache(t, newRedisStore(t, srv), aside.Options{KeyPrefix: prefix}) // another process
	ctx := context.Background()
	load := (&counter[profile]{value: profile{ID: 1, Name: "Ada"}}).load
	for range 10 {
		if got, err := aside.GetOrSet(ctx, c, "p:1", time.Hour, load); err != nil || got.Name != "Ada" {
			t.Fatalf("GetOrSet = %+v, %v; want Ada", got, err)
		}
	}
	if n := codec.decodes.Load(); n != 1 {
		t.Errorf("%d decodes for 9 hits of unchanged bytes; want 1", n)
	}
	if err := aside.Set(ctx, other, "p:1", profile{ID: 1, Name: "Grace"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := aside.GetOrSet(ctx, c, "p:1", time.Hour, load); got.Name != "Grace" {
		t.Errorf("after another process's Set, GetOrSet = %+v; want Grace", got)
	}
	if _, err := other.Delete(ctx, "p:1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := aside.GetOrSet(ctx, c, "p:1", time.Hour, load); got.Name != "Ada" {
		t.Errorf("after another process's Delete, GetOrSet = %+v; want the loader's Ada", got)
	}

	off := &countingCodec{}
	c2 := newCache(t, newRedisStore(t, srv), aside.Options{KeyPrefix: prefix, Codec: off, DecodeMemoBytes: -1})
	aside.Set(ctx, c2, "p:2", profile{ID: 2}, time.Hour)
	for range 5 {
		aside.GetOrSet(ctx, c2, "p:2", time.Hour, load)
	}
	if n := off.decodes.Load(); n != 5 {
		t.Errorf("%d decodes for 5 hits with the memo off; want 5", n)
	}
}
