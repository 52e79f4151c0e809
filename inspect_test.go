package aside_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// What a key holds in Redis reads back as an Entry: a value with its
// times and its JSON, a negative entry, a tombstone.
func TestInspectEntry(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: "i:"})
	users := newNamespace[User](t, c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	ctx := context.Background()
	users.Get(ctx, "1", mustLoad(sampleUser(1)))
	users.Get(ctx, "2", func(context.Context) (User, error) { return User{}, aside.ErrNotFound })
	users.Get(ctx, "3", mustLoad(sampleUser(3)))
	users.Invalidate(ctx, "3")
	get := func(key string) []byte {
		v, err := redistest.Do(srv.Addr, "GET", key)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(v)
	}
	e, err := aside.InspectEntry(get("i:user:1"))
	if err != nil || e.Kind != "value" || time.Until(e.FreshUntil) < 50*time.Minute || e.Shape == 0 || string(e.Payload) != mustJSON(t, sampleUser(1)) {
		t.Errorf("a value = %+v, %v", e, err)
	}
	if e, err := aside.InspectEntry(get("i:user:2")); err != nil || e.Kind != "not found" || len(e.Payload) != 0 {
		t.Errorf("a negative entry = %+v, %v", e, err)
	}
	if e, err := aside.InspectEntry(get("i:user:3")); err != nil || e.Kind != "tombstone" {
		t.Errorf("a tombstone = %+v, %v", e, err)
	}
	if _, err := aside.InspectEntry([]byte("not aside's")); !errors.Is(err, aside.ErrInvalid) {
		t.Errorf("bytes aside did not write = %v; want ErrInvalid", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
