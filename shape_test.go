package aside_test

// An entry is served only to readers of the shape it was written in: a
// deploy that changes a namespace's type, or its Version, never serves
// what an older deploy cached, through either door.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

type userV1 struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// userV2 renamed a field: userV1's JSON decodes into it without error,
// with FullName empty.
type userV2 struct {
	ID       int64  `json:"id"`
	FullName string `json:"fullName"`
}

func TestAnOlderShapeIsNeverServed(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		older, newer := twoCaches(t, s, aside.Options{}) // two deploys on one store
		cfg := aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
		v1 := newNamespace[userV1](t, older, cfg)
		v2 := newNamespace[userV2](t, newer, cfg)
		ctx := context.Background()
		for _, id := range []string{"1", "2"} {
			if _, err := v1.Get(ctx, id, (&counter[userV1]{value: userV1{ID: 1, Name: "Ada"}}).load); err != nil {
				t.Fatal(err)
			}
		}
		load := &counter[userV2]{value: userV2{ID: 1, FullName: "Ada Lovelace"}}
		b, err := v2.GetEncoded(ctx, "1", load.load)
		if want := `{"id":1,"fullName":"Ada Lovelace"}`; err != nil || string(b) != want {
			t.Errorf("GetEncoded of an entry of the older shape = %s, %v; want %s from the loader", b, err, want)
		}
		if u, err := v2.Get(ctx, "2", load.load); err != nil || u.FullName != "Ada Lovelace" {
			t.Errorf("Get of an entry of the older shape = %+v, %v; want the loader's", u, err)
		}
		if n := load.calls.Load(); n != 2 {
			t.Errorf("loads = %d; want 2, one per door", n)
		}
		if u, err := v2.Get(ctx, "2", load.load); err != nil || u.FullName != "Ada Lovelace" || load.calls.Load() != 2 {
			t.Errorf("a second read of the new shape = %+v, %v after %d loads; want a hit", u, err, load.calls.Load())
		}
		// The older deploy, still running, does not read the new shape as its own.
		old := &counter[userV1]{value: userV1{ID: 1, Name: "Ada"}}
		if u, err := v1.Get(ctx, "2", old.load); err != nil || u.Name != "Ada" || old.calls.Load() != 1 {
			t.Errorf("the older deploy reading the new shape = %+v, %v after %d loads; want its own load", u, err, old.calls.Load())
		}
	})
}

// Version retires entries whose shape is unchanged but whose meaning is
// not (cents that became euros): a namespace of another Version reads them
// as misses.
func TestNamespaceVersionRetiresOlderEntries(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		older, newer := twoCaches(t, s, aside.Options{})
		ctx := context.Background()
		cents := newNamespace[int](t, older, aside.NamespaceConfig{Name: "prices", TTL: time.Hour})
		euros := newNamespace[int](t, newer, aside.NamespaceConfig{Name: "prices", TTL: time.Hour, Version: "euros"})
		cents.Get(ctx, "1", (&counter[int]{value: 1250}).load)
		load := &counter[int]{value: 12}
		for i := range 2 {
			if v, err := euros.Get(ctx, "1", load.load); err != nil || v != 12 {
				t.Errorf("read %d of version euros over a version-less entry = %d, %v; want 12", i, v, err)
			}
		}
		if n := load.calls.Load(); n != 1 {
			t.Errorf("loads = %d; want 1, then a hit", n)
		}
		if b, err := euros.GetEncoded(ctx, "1", load.load); err != nil || string(b) != "12" {
			t.Errorf("GetEncoded = %s, %v; want 12", b, err)
		}
	})
}

// A negative entry carries its shape too: a deploy of another Version or
// another type does not take an older deploy's "not found" for its own.
func TestNegativeEntriesCarryTheirShape(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		older, newer := twoCaches(t, s, aside.Options{})
		ctx := context.Background()
		v1 := newNamespace[userV1](t, older, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
		v2 := newNamespace[userV1](t, newer, aside.NamespaceConfig{Name: "users", TTL: time.Hour, Version: "2"})
		v1.Get(ctx, "1", (&counter[userV1]{err: aside.ErrNotFound}).load)
		load := &counter[userV1]{value: userV1{ID: 1, Name: "Ada"}}
		if u, err := v2.Get(ctx, "1", load.load); err != nil || u.Name != "Ada" {
			t.Errorf("version 2 over version 1's negative entry = %+v, %v; want the loader's", u, err)
		}
		v1.Get(ctx, "2", (&counter[userV1]{err: aside.ErrNotFound}).load)
		other := &counter[userV2]{value: userV2{ID: 2, FullName: "Grace"}}
		if u, err := aside.GetOrSet(ctx, newer, v1.Key("2"), time.Hour, other.load); err != nil || u.FullName != "Grace" {
			t.Errorf("another type over a negative entry = %+v, %v; want the loader's", u, err)
		}
	})
}

// euros decodes a number of euros into cents: a type that decodes itself
// (no MarshalJSON), whose encoding the fingerprint cannot see.
type euros int64

func (e *euros) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*e = euros(f * 100)
	return nil
}

type priceV1 struct {
	Price int64 `json:"price"`
}

type priceV2 struct {
	Price euros `json:"price"`
}

// A field retyped to a type that decodes itself is another shape: the
// older entry is never decoded by the new decoder.
func TestSelfDecodingTypesCountByName(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		a, b := twoCaches(t, s, aside.Options{})
		ctx := context.Background()
		aside.GetOrSet(ctx, a, "price", time.Hour, (&counter[priceV1]{value: priceV1{1250}}).load)
		if p, err := aside.GetOrSet(ctx, b, "price", time.Hour, (&counter[priceV2]{value: priceV2{1250}}).load); err != nil || p.Price != 1250 {
			t.Errorf("a price read as a self-decoding type = %+v, %v; want the loader's 1250, not the older entry decoded as 125000", p, err)
		}
	})
}
