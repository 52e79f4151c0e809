package aside_test

import (
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

func TestKeyOfANilStringer(t *testing.T) {
	if got := aside.Key("t:", (*time.Time)(nil)); got != "t:<nil>" {
		t.Errorf("Key of a nil *time.Time = %q; want t:<nil>, and no panic", got)
	}
}
