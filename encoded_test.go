package aside_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

type profile struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"createdAt"`
}

// GetEncoded answers with exactly what the codec makes of the value, on a
// miss and on a hit, and keeps GetOrSet's semantics: one load, negative
// entries, invalidation, loader errors.
func TestGetEncodedAnswersWithTheCodecsBytes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c, ctx := newCache(t, s, aside.Options{}), context.Background()
		ns := newNamespace[profile](t, c, aside.NamespaceConfig{Name: "profiles", Prefix: "profile:", TTL: time.Hour})
		row := profile{ID: 7, Name: "Ada", Created: time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)}
		loader := &counter[profile]{value: row}
		want, _ := json.Marshal(row)
		for i := range 3 {
			got, err := ns.GetEncoded(ctx, "7", loader.load)
			if err != nil || string(got) != string(want) {
				t.Fatalf("GetEncoded #%d = %s, %v; want %s", i, got, err, want)
			}
		}
		if n := loader.calls.Load(); n != 1 {
			t.Errorf("loader called %d times; want 1", n)
		}
		if st := c.Stats().Namespaces["profiles"]; st.Hits != 2 || st.Misses != 1 {
			t.Errorf("hits %d, misses %d; want 2 and 1", st.Hits, st.Misses)
		}
		if v, err := ns.Get(ctx, "7", loader.load); err != nil || !v.Created.Equal(row.Created) || v.Name != "Ada" {
			t.Errorf("Get after GetEncoded = %+v, %v; want the row", v, err)
		}

		loader.value.Name = "Grace"
		if err := ns.Invalidate(ctx, "7"); err != nil {
			t.Fatal(err)
		}
		want, _ = json.Marshal(loader.value)
		if got, err := ns.GetEncoded(ctx, "7", loader.load); err != nil || string(got) != string(want) {
			t.Errorf("GetEncoded after Invalidate = %s, %v; want %s", got, err, want)
		}

		missing := &counter[profile]{err: fmt.Errorf("profile 8: %w", aside.ErrNotFound)}
		for range 2 {
			if got, err := ns.GetEncoded(ctx, "8", missing.load); !errors.Is(err, aside.ErrNotFound) || got != nil {
				t.Errorf("GetEncoded of a missing row = %s, %v; want ErrNotFound", got, err)
			}
		}
		if n := missing.calls.Load(); n != 1 {
			t.Errorf("loader of the missing row called %d times; want 1 (the negative entry answers)", n)
		}

		errDB := errors.New("database down")
		failing := &counter[profile]{err: errDB}
		var le *aside.LoadError
		if _, err := ns.GetEncoded(ctx, "9", failing.load); !errors.Is(err, errDB) || !errors.As(err, &le) {
			t.Errorf("GetEncoded with a failing loader = %v; want a *LoadError wrapping its error", err)
		}
		if _, err := ns.GetEncoded(ctx, "", loader.load); err == nil {
			t.Error("GetEncoded of an empty id: no error")
		}
		if _, err := ns.GetEncoded(ctx, "7", nil); err == nil {
			t.Error("GetEncoded with a nil loader: no error")
		}
		if _, err := aside.GetOrSetEncoded(ctx, c, "k", 0, loader.load); err == nil {
			t.Error("GetOrSetEncoded with a zero TTL: no error")
		}
		str, err := aside.GetOrSetEncoded(ctx, c, "greeting", time.Hour, func(context.Context) (string, error) { return "hello", nil })
		if err != nil || string(str) != "hello" {
			t.Errorf("GetOrSetEncoded of a string = %q, %v; want its bytes", str, err)
		}
	})
}

// countingCodec is the JSON codec, counting its decodes.
type countingCodec struct {
	aside.JSON
	decodes atomic.Int64
}

func (c *countingCodec) Unmarshal(data []byte, v any) error {
	c.decodes.Add(1)
	return c.JSON.Unmarshal(data, v)
}

// The point of GetEncoded: a fresh hit from Redis is never decoded.
func TestGetEncodedHitFromRedisSkipsTheDecode(t *testing.T) {
	codec := &countingCodec{}
	c := newCache(t, newRedisStore(t, redistest.Shared(t).Addr), aside.Options{Codec: codec})
	ctx := context.Background()
	load := func(context.Context) (profile, error) { return profile{ID: 1, Name: "Ada"}, nil }
	if _, err := aside.GetOrSetEncoded(ctx, c, "p:1", time.Hour, load); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := aside.GetOrSetEncoded(ctx, c, "p:1", time.Hour, load); err != nil {
			t.Fatal(err)
		}
	}
	if n := codec.decodes.Load(); n != 0 {
		t.Errorf("%d decodes for 10 encoded hits; want 0", n)
	}
	if _, err := aside.GetOrSet(ctx, c, "p:1", time.Hour, load); err != nil {
		t.Fatal(err)
	}
	if n := codec.decodes.Load(); n != 1 {
		t.Errorf("%d decodes after one typed hit; want 1 (the counter counts)", n)
	}
}

// Past its soft TTL an entry read through GetEncoded is served as it is
// and refreshed once in the background, as through Get.
func TestGetEncodedServesStaleWhileRevalidating(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		clk := newClock()
		c, ns := failSafeNamespace(t, s, clk, aside.NamespaceConfig{Name: "u", TTL: time.Minute, SoftTTL: 30 * time.Second})
		ctx := context.Background()
		db := &flaky{value: "v1"}
		if got, err := ns.GetEncoded(ctx, "1", db.load); err != nil || string(got) != "v1" {
			t.Fatalf("first read = %q, %v; want v1", got, err)
		}
		db.set("v2", nil)
		clk.Advance(40 * time.Second)
		if got, err := ns.GetEncoded(ctx, "1", db.load); err != nil || string(got) != "v1" {
			t.Errorf("read past SoftTTL = %q, %v; want v1 at once", got, err)
		}
		waitFor(t, "the background refresh to fill", func() bool {
			v, found, _ := aside.GetIfPresent[string](ctx, c, ns.Key("1"))
			return found && v == "v2"
		})
		if got, err := ns.GetEncoded(ctx, "1", db.load); err != nil || string(got) != "v2" {
			t.Errorf("read after the refresh = %q, %v; want v2", got, err)
		}
		if n := db.count(); n != 2 {
			t.Errorf("loader calls = %d; want 2", n)
		}
	})
}

// Bytes in Redis that are not an entry are a miss for GetEncoded too: the
// loader answers, the error is counted, the bytes are gone.
func TestGetEncodedDropsCorruptBytes(t *testing.T) {
	srv := redistest.Shared(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{})
	ctx := context.Background()
	if _, err := redistest.Do(srv.Addr, "SET", c.KeyPrefix()+"p:2", "\x01garbage"); err != nil {
		t.Fatal(err)
	}
	loader := &counter[profile]{value: profile{ID: 2, Name: "Lin"}}
	want, _ := json.Marshal(loader.value)
	if got, err := aside.GetOrSetEncoded(ctx, c, "p:2", time.Hour, loader.load); err != nil || string(got) != string(want) {
		t.Errorf("GetOrSetEncoded over corrupt bytes = %s, %v; want %s", got, err, want)
	}
	if st := c.Stats(); st.Errors != 1 || loader.calls.Load() != 1 {
		t.Errorf("errors %d, loads %d; want 1 and 1", st.Errors, loader.calls.Load())
	}
}

// countingMarshal is the JSON codec, counting its encodes.
type countingMarshal struct {
	aside.JSON
	encodes atomic.Int64
}

func (c *countingMarshal) Marshal(v any) ([]byte, error) {
	c.encodes.Add(1)
	return c.JSON.Marshal(v)
}

// The in-process store keeps values decoded; GetEncoded encodes an entry
// once and serves the same bytes after, and a new entry (after an
// invalidation, a Set) gets its own. (A miss encodes the loaded value for
// its own answer too.)
func TestGetEncodedOnMemstoreEncodesAnEntryOnce(t *testing.T) {
	codec := &countingMarshal{}
	c := newCache(t, newMemstore(t), aside.Options{Codec: codec})
	ctx := context.Background()
	ns := newNamespace[profile](t, c, aside.NamespaceConfig{Name: "p", Prefix: "p:", TTL: time.Hour})
	loader := &counter[profile]{value: profile{ID: 1, Name: "Ada"}}
	for range 10 {
		if got, err := ns.GetEncoded(ctx, "1", loader.load); err != nil || !strings.Contains(string(got), "Ada") {
			t.Fatalf("GetEncoded = %s, %v; want Ada", got, err)
		}
	}
	if n := codec.encodes.Load(); n != 2 {
		t.Errorf("%d encodes for 10 reads of one entry; want 2 (the miss's answer, the entry's)", n)
	}
	loader.value.Name = "Grace"
	if err := ns.Invalidate(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, err := ns.GetEncoded(ctx, "1", loader.load); err != nil || !strings.Contains(string(got), "Grace") {
			t.Errorf("GetEncoded after Invalidate = %s, %v; want Grace", got, err)
		}
	}
	if err := aside.Set(ctx, c, ns.Key("1"), profile{ID: 1, Name: "Lin"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := ns.GetEncoded(ctx, "1", loader.load); err != nil || !strings.Contains(string(got), "Lin") {
		t.Errorf("GetEncoded after Set = %s, %v; want Lin", got, err)
	}
	if n := codec.encodes.Load(); n != 5 {
		t.Errorf("%d encodes; want 5 (two misses' answers, three entries)", n)
	}
}
