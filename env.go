package aside

import (
	"fmt"
	"time"

	"github.com/aside-cache/aside/internal/envvar"
)

// OptionsFromEnv reads the Options that aside-server's environment
// variables configure, so that a service configures aside as the server
// does. An unset variable leaves its field zero (its default); a bad value
// is an error naming the variable.
//
//	ASIDE_KEY_PREFIX            KeyPrefix ("products:": one a service)
//	ASIDE_OP_TIMEOUT            OpTimeout (up to 1m)
//	ASIDE_LOAD_TIMEOUT          LoadTimeout (up to 1h, and LeaseTTL)
//	ASIDE_NEAR_CACHE            on or off: NearCache.Enabled (it needs Redis; fromenv.Open turns it on with Redis when unset)
//	ASIDE_NEAR_CACHE_MAX_BYTES  NearCache.MaxBytes (256MiB, 1GiB, ...)
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	o := Options{KeyPrefix: getenv("ASIDE_KEY_PREFIX")}
	var err error
	if o.OpTimeout, err = durationOf(getenv, "ASIDE_OP_TIMEOUT", maxOpTimeout); err != nil {
		return o, err
	}
	if o.LoadTimeout, err = durationOf(getenv, "ASIDE_LOAD_TIMEOUT", maxLeaseTTL); err != nil {
		return o, err
	}
	if o.NearCache.Enabled, err = envvar.Switch(getenv("ASIDE_NEAR_CACHE"), false); err != nil {
		return o, fmt.Errorf("aside: ASIDE_NEAR_CACHE %q: %w", getenv("ASIDE_NEAR_CACHE"), err)
	}
	if v := getenv("ASIDE_NEAR_CACHE_MAX_BYTES"); v != "" {
		if o.NearCache.MaxBytes, err = envvar.Bytes(v); err != nil {
			return o, fmt.Errorf("aside: ASIDE_NEAR_CACHE_MAX_BYTES %q: %w", v, err)
		}
	}
	return o, nil
}

// durationOf reads the duration in the variable name, 0 when unset.
func durationOf(getenv func(string) string, name string, most time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := envvar.Duration(v, most)
	if err != nil {
		return 0, fmt.Errorf("aside: %s %q: %w", name, v, err)
	}
	return d, nil
}
