// Package envvar parses the values of environment variables that aside
// and its server read: sizes, durations, switches. Its errors say what is
// wanted; the caller names the variable and its value.
package envvar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bytes reads a size: bytes, or a number with KiB, MiB or GiB, above 0
// and at most 1 TiB.
func Bytes(v string) (int64, error) {
	unit := int64(1)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			v, unit = n, u.size
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/unit {
		return 0, errors.New("want a size above 0 and at most 1TiB, in bytes or with KiB, MiB or GiB, such as 256MiB")
	}
	return n * unit, nil
}

// Duration reads a duration above 0 and at most most.
func Duration(v string, most time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 || d > most {
		return 0, fmt.Errorf("want a duration above 0 and at most %v, such as 250ms", most)
	}
	return d, nil
}

// Switch reads on or off (any case); unset is def.
func Switch(v string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, nil
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errors.New("want on or off")
}
