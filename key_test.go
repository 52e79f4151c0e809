package aside_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

func TestKeyOfANilStringer(t *testing.T) {
	if got := aside.Key("t:", (*time.Time)(nil)); got != "t:<nil>" {
		t.Errorf("Key of a nil *time.Time = %q; want t:<nil>, and no panic", got)
	}
}

// No input grows a key past a bound: an id longer than MaxIDLen escaped is
// hashed to 66 bytes (and two such ids still have two keys), and a key
// longer than MaxKeyLen is refused by every key-based function.
func TestKeysAreBounded(t *testing.T) {
	long := strings.Repeat("openid-", 100)
	k1, k2 := aside.Key("user:openid:", long), aside.Key("user:openid:", long+"x")
	if len(k1) != len("user:openid:")+66 || k1 == k2 {
		t.Errorf("Key of 700- and 701-byte ids = %q, %q; want 66 bytes of id each, and two keys", k1, k2)
	}
	if k := aside.Key("user:", strings.Repeat(":", 42)); len(k) != len("user:")+126 || strings.HasPrefix(k, "user:%~") {
		t.Errorf("Key of 42 colons = %q; want them escaped, 126 bytes, not hashed", k)
	}
	c, ctx := newCache(t, newMemstore(t), aside.Options{}), context.Background()
	tooLong := strings.Repeat("k", aside.MaxKeyLen+1)
	load := (&counter[int]{value: 1}).load
	if _, err := aside.GetOrSet(ctx, c, tooLong, time.Hour, load); err == nil {
		t.Error("GetOrSet of a key over MaxKeyLen: no error")
	}
	if err := aside.Set(ctx, c, tooLong, 1, time.Hour); err == nil {
		t.Error("Set of a key over MaxKeyLen: no error")
	}
	if _, err := c.Delete(ctx, tooLong); err == nil {
		t.Error("Delete of a key over MaxKeyLen: no error")
	}
	if _, err := aside.GetOrSet(ctx, c, tooLong[1:], time.Hour, load); err != nil {
		t.Errorf("GetOrSet of a key of MaxKeyLen: %v", err)
	}
}
