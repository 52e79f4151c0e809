package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/fromenv"
	"github.com/aside-cache/aside/redisstore"
)

// config is the server's configuration, read from the environment.
type config struct {
	addr        string
	databaseURL string
	cache       fromenv.Config // the store and the cache's options
	cacheOff    bool
	adminToken  string
	seed        bool
	logLevel    slog.Level
	accessLog   bool
	auth        authConfig
}

// authConfig is who may change what: authorization on or off, the first
// admin, and the other sites whose pages may send mutations.
type authConfig struct {
	off            bool
	adminOpenID    string
	adminPassword  string
	allowedOrigins []string
}

// readConfig reads the environment; a bad value is an error, never a guess.
func readConfig(getenv func(string) string) (config, error) {
	cfg := config{
		addr:        or(getenv("ADDR"), ":8080"),
		databaseURL: getenv("DATABASE_URL"),
		adminToken:  getenv("ASIDE_ADMIN_TOKEN"),
		seed:        true,
		accessLog:   getenv("ASIDE_ACCESS_LOG") == "1",
	}
	if err := checkAdminToken(cfg.adminToken); err != nil {
		return cfg, err
	}
	var err error
	if cfg.cache, err = fromenv.Read(getenv); err != nil {
		return cfg, err
	}
	if cfg.cache.Options.KeyPrefix == "" {
		cfg.cache.Options.KeyPrefix = aside.DefaultKeyPrefix // logged at start
	}
	auth, err := readAuth(getenv)
	if err != nil {
		return cfg, err
	}
	cfg.auth = auth
	switch v := strings.ToLower(getenv("ASIDE_CACHE")); v {
	case "", "on":
	case "off":
		cfg.cacheOff = true
	default:
		return cfg, fmt.Errorf("ASIDE_CACHE %q: want on or off", v)
	}
	switch v := strings.ToLower(getenv("ASIDE_SEED")); v {
	case "", "auto":
	case "off":
		cfg.seed = false
	default:
		return cfg, fmt.Errorf("ASIDE_SEED %q: want auto or off", v)
	}
	if v := getenv("ASIDE_LOG_LEVEL"); v != "" {
		if err := cfg.logLevel.UnmarshalText([]byte(v)); err != nil {
			return cfg, fmt.Errorf("ASIDE_LOG_LEVEL %q: want debug, info, warn or error", v)
		}
	}
	return cfg, nil
}

// minAdminTokenLen is the shortest admin token the server takes: 16
// random bytes are beyond guessing even unslowed.
const minAdminTokenLen = 16

// checkAdminToken refuses an admin token that is short enough to guess, or
// that no Authorization header can carry as it is: padded with whitespace
// (it would be "set" and never match) or holding control characters. The
// error names the variable, never the token.
func checkAdminToken(token string) error {
	switch {
	case token == "":
		return nil
	case strings.TrimSpace(token) != token:
		return errors.New("ASIDE_ADMIN_TOKEN has leading or trailing whitespace, which a bearer token cannot carry: remove it")
	case strings.ContainsFunc(token, func(r rune) bool { return r < 0x21 || r > 0x7e }):
		return errors.New("ASIDE_ADMIN_TOKEN holds a space, a control or a non-ASCII character: want printable ASCII, such as the output of openssl rand -hex 32")
	case len(token) < minAdminTokenLen:
		return fmt.Errorf("ASIDE_ADMIN_TOKEN is %d bytes: want at least %d, a long random string such as the output of openssl rand -hex 32", len(token), minAdminTokenLen)
	}
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// redisAddress names the Redis servers for the start-up log: the addresses
// only, never the user or the password a URL may carry.
func redisAddress(o redisstore.Options) string {
	if o.URL == "" {
		return strings.Join(o.Addrs, ",")
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return "(a REDIS_URL that does not parse)"
	}
	if u.Scheme == "unix" {
		return u.Path
	}
	// rueidis takes further seed nodes as addr= parameters.
	return strings.Join(append([]string{u.Host}, u.Query()["addr"]...), ",")
}

// readAuth reads ASIDE_AUTH (on, the default, or off), ASIDE_ADMIN_OPEN_ID
// with ASIDE_ADMIN_PASSWORD, and ASIDE_ALLOWED_ORIGINS (comma-separated
// scheme://host[:port]).
func readAuth(getenv func(string) string) (authConfig, error) {
	a := authConfig{adminOpenID: getenv("ASIDE_ADMIN_OPEN_ID"), adminPassword: getenv("ASIDE_ADMIN_PASSWORD")}
	switch v := strings.ToLower(getenv("ASIDE_AUTH")); v {
	case "", "on":
	case "off":
		a.off = true
	default:
		return a, fmt.Errorf("ASIDE_AUTH %q: want on or off", v)
	}
	if a.adminPassword != "" && a.adminOpenID == "" {
		return a, errors.New("ASIDE_ADMIN_PASSWORD is set without ASIDE_ADMIN_OPEN_ID")
	}
	for _, o := range strings.Split(getenv("ASIDE_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			return a, fmt.Errorf("ASIDE_ALLOWED_ORIGINS: %q is not scheme://host[:port]", o)
		}
		a.allowedOrigins = append(a.allowedOrigins, o)
	}
	return a, nil
}
