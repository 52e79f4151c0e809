package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Options says where Redis is. Set URL, or Addrs; the zero value means
// redis://127.0.0.1:6379/0.
type Options struct {
	// URL is a Redis URL: redis://[user:password@]host:port[/db], or
	// rediss:// for TLS. Query parameters are rueidis's: addr= adds seed
	// nodes (a cluster is detected by itself), master_set= names a Sentinel
	// master set, dial_timeout=, client_name=, skip_verify.
	URL string
	// Addrs are the seed nodes of a Cluster, or the Sentinels when MasterSet
	// is set, or the one address of a standalone server.
	Addrs []string
	// MasterSet names the master set to ask the Sentinels in Addrs for.
	MasterSet string
	// Username and Password authenticate (ACL user, or password alone);
	// they override the URL's.
	Username, Password string
	// DB selects a database on a standalone server; it overrides the URL's.
	DB int
	// TLS, when set, connects with TLS; it overrides the URL's.
	TLS *tls.Config
	// ClientName is sent with CLIENT SETNAME. Default "aside".
	ClientName string
	// DialTimeout bounds each connection attempt. Default 2s.
	DialTimeout time.Duration
}

const defaultDialTimeout = 2 * time.Second

// clientOption turns o into rueidis's options.
func (o Options) clientOption() (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	switch {
	case o.URL != "" && len(o.Addrs) > 0:
		return opt, errors.New("redisstore: set URL or Addrs, not both")
	case o.URL != "":
		var err error
		if opt, err = rueidis.ParseURL(o.URL); err != nil {
			return opt, fmt.Errorf("redisstore: bad URL (not shown: it may hold a password): %s", urlReason(o.URL, err))
		}
	case len(o.Addrs) > 0:
		for _, a := range o.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return opt, fmt.Errorf("redisstore: bad address %q: %w", a, err)
			}
		}
		opt.InitAddress = append([]string(nil), o.Addrs...)
	default:
		opt.InitAddress = []string{"127.0.0.1:6379"}
	}
	if o.MasterSet != "" {
		opt.Sentinel.MasterSet = o.MasterSet
	}
	if o.Username != "" {
		opt.Username = o.Username
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	switch {
	case o.DB < 0:
		return opt, fmt.Errorf("redisstore: DB %d is negative", o.DB)
	case o.DB > 0:
		opt.SelectDB = o.DB
	}
	if o.TLS != nil {
		opt.TLSConfig = o.TLS
	}
	opt.ClientName = o.ClientName
	if opt.ClientName == "" {
		opt.ClientName = "aside"
	}
	if o.DialTimeout < 0 {
		return opt, fmt.Errorf("redisstore: DialTimeout %v is negative", o.DialTimeout)
	}
	if o.DialTimeout > 0 || opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = cmpOr(o.DialTimeout, defaultDialTimeout)
	}
	// Client-side caching is for the near cache; a plain store does not
	// need Redis to track its keys.
	opt.DisableCache = true
	return opt, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// FromEnv reads where Redis is from the environment, as the guide's server
// did: REDIS_URL if set, or else REDIS_HOST (default localhost, as in the
// guide) with REDIS_PORT (default 6379), REDIS_PASSWORD, REDIS_USERNAME and
// REDIS_DB. configured is false when none of REDIS_URL, REDIS_HOST and
// REDIS_PORT is set: a REDIS_PORT alone means Redis on localhost, not no
// Redis. getenv is os.Getenv in a program.
func FromEnv(getenv func(string) string) (opts Options, configured bool, err error) {
	if u := getenv("REDIS_URL"); u != "" {
		return Options{URL: u}, true, nil
	}
	host := getenv("REDIS_HOST")
	if host == "" && getenv("REDIS_PORT") == "" {
		return Options{}, false, nil
	}
	if host == "" {
		host = "localhost"
	}
	port := getenv("REDIS_PORT")
	if port == "" {
		port = "6379"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Options{}, true, fmt.Errorf("redisstore: REDIS_PORT %q is not a port number", port)
	}
	opts = Options{
		Addrs:    []string{net.JoinHostPort(host, port)},
		Username: getenv("REDIS_USERNAME"),
		Password: getenv("REDIS_PASSWORD"),
	}
	if db := getenv("REDIS_DB"); db != "" {
		if opts.DB, err = strconv.Atoi(db); err != nil || opts.DB < 0 {
			return Options{}, true, fmt.Errorf("redisstore: REDIS_DB %q is not a database number", db)
		}
	}
	return opts, true, nil
}

// urlReason is what is wrong with a URL that does not parse, without the
// URL: net/url's errors quote it whole, and their inner errors quote the
// piece they stumbled on (a port, an escape, a host character), which may
// be a piece of a password with a / or # in it. So a net/url error is
// told by its kind only; rueidis's own errors name a field's value (the
// database number, a timeout, the scheme), with the URL taken out.
func urlReason(raw string, err error) string {
	const encode = " (a password's @ / # ? %, spaces and other reserved characters must be percent-encoded)"
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		return strings.ReplaceAll(err.Error(), raw, "(the URL)")
	}
	var escape url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(uerr.Err, &escape):
		return "it holds a malformed percent-escape" + encode
	case errors.As(uerr.Err, &host):
		return "its host holds a character a host name cannot" + encode
	}
	return "it does not parse as a URL" + encode
}
