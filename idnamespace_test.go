package aside_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

// An IDNamespace reads and writes the entries of its Namespace, the ids
// in decimal: one set of entries, two doors.
func TestIDNamespaceIsTheNamespaceByIntegerIDs(t *testing.T) {
	forEachStore(t, func(t *testing.T, s aside.Store) {
		c := newCache(t, s, aside.Options{OpTimeout: patient})
		cfg := aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
		byID, err := aside.NewIDNamespace[int64, string](c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if v, err := byID.Get(ctx, 42, mustLoad("ada")); err != nil || v != "ada" {
			t.Fatalf("Get(42) = %q, %v", v, err)
		}
		if v, err := byID.Namespace().Get(ctx, "42", mustLoad("other")); err != nil || v != "ada" {
			t.Errorf("the Namespace's Get(\"42\") = %q, %v; want the entry Get(42) filled", v, err)
		}
		if k := byID.Key(-7); k != "user:-7" {
			t.Errorf("Key(-7) = %q", k)
		}
		db := map[int64]string{1: "one", 2: "two", 3: "three"}
		var asked []int64
		load := func(_ context.Context, missing []int64) (map[int64]string, error) {
			asked = append(asked, missing...)
			out := map[int64]string{}
			for _, id := range missing {
				if v, ok := db[id]; ok {
					out[id] = v
				}
			}
			return out, nil
		}
		got, err := byID.GetMany(ctx, []int64{1, 2, 42, 404}, load)
		if err != nil || len(got) != 3 || got[1] != "one" || got[42] != "ada" {
			t.Errorf("GetMany = %v, %v", got, err)
		}
		if fmt.Sprint(asked) != "[1 2 404]" {
			t.Errorf("the batch loader was asked for %v; want [1 2 404]", asked)
		}
		if err := c.Invalidate(ctx, byID.IDs(1)); err != nil {
			t.Fatal(err)
		}
		if v, err := byID.Get(ctx, 1, mustLoad("uno")); err != nil || v != "uno" {
			t.Errorf("Get(1) after its invalidation = %q, %v; want the loader's", v, err)
		}
		if _, err := byID.Get(ctx, 5, nil); !errors.Is(err, aside.ErrInvalid) {
			t.Errorf("Get with a nil loader = %v; want ErrInvalid", err)
		}
		unsigned, _ := aside.NewIDNamespace[uint64, string](c, cfg)
		if v, err := unsigned.Get(ctx, 1<<63+5, mustLoad("big")); err != nil || v != "big" || unsigned.Key(1<<63+5) != "user:9223372036854775813" {
			t.Errorf("uint64 ids: Get = %q, %v; Key = %q", v, err, unsigned.Key(1<<63+5))
		}
	})
}
