// Package fromenv opens the cache a service's environment describes, as
// aside-server opens its own: Redis when REDIS_URL (or the guide's
// REDIS_HOST and REDIS_PORT) is set, with the near cache on unless
// ASIDE_NEAR_CACHE=off; the in-process store otherwise, bounded by
// ASIDE_MEMSTORE_MAX_BYTES (ASIDE_NEAR_CACHE means nothing there); and
// the Options of aside.OptionsFromEnv.
//
//	c, err := fromenv.Open(os.Getenv, logger)
//	if err != nil {
//		log.Fatal(err) // a bad value names its variable, never a password
//	}
//	defer c.Close()
package fromenv

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/envvar"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/redisstore"
)

// Config is what the environment says: the store, and the cache's Options.
type Config struct {
	// Redis is the Redis to connect to; nil for the in-process store.
	Redis *redisstore.Options
	// MemstoreMaxBytes bounds the in-process store (0: its default).
	MemstoreMaxBytes int64
	// Options are the cache's (aside.OptionsFromEnv), the near cache on
	// with Redis unless ASIDE_NEAR_CACHE=off.
	Options aside.Options
}

// Read reads the environment through getenv.
func Read(getenv func(string) string) (Config, error) {
	var cfg Config
	opts, err := aside.OptionsFromEnv(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.Options = opts
	if r, ok, err := redisstore.FromEnv(getenv); err != nil {
		return cfg, err
	} else if ok {
		cfg.Redis = &r
	}
	if cfg.Redis != nil && strings.TrimSpace(getenv("ASIDE_NEAR_CACHE")) == "" {
		cfg.Options.NearCache.Enabled = true // the server's default with Redis: docs/CONSISTENCY.md, section 8
	}
	if cfg.Redis == nil {
		cfg.Options.NearCache.Enabled = false // the in-process store is near already: ASIDE_NEAR_CACHE means nothing
	}
	if v := getenv("ASIDE_MEMSTORE_MAX_BYTES"); v != "" {
		if cfg.MemstoreMaxBytes, err = envvar.Bytes(v); err != nil {
			return cfg, fmt.Errorf("fromenv: ASIDE_MEMSTORE_MAX_BYTES %q: %w", v, err)
		}
	}
	return cfg, nil
}

// Store opens the store cfg names.
func (cfg Config) Store() (aside.Store, error) {
	if cfg.Redis != nil {
		return redisstore.New(*cfg.Redis)
	}
	return memstore.New(memstore.Options{MaxBytes: cfg.MemstoreMaxBytes})
}

// Open opens the store cfg names and a cache over it, which logs to logger
// (nil: nowhere).
func (cfg Config) Open(logger *slog.Logger) (*aside.Cache, error) {
	store, err := cfg.Store()
	if err != nil {
		return nil, err
	}
	opts := cfg.Options
	opts.Logger = logger
	c, err := aside.New(store, opts)
	if err != nil {
		store.Close()
		return nil, err
	}
	return c, nil
}

// Open reads the environment and opens the cache it describes.
func Open(getenv func(string) string, logger *slog.Logger) (*aside.Cache, error) {
	cfg, err := Read(getenv)
	if err != nil {
		return nil, err
	}
	return cfg.Open(logger)
}
