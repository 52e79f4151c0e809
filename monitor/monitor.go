package monitor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/internal/csrf"
)

// MaxPatternLen bounds the pattern monitoring.cacheClearPattern accepts.
const MaxPatternLen = 256

// Options configures the monitoring procedures and the Handler; the zero
// value serves the figures with the mutations disabled.
type Options struct {
	// AdminToken is the bearer token the two mutations require. Empty
	// disables them: they answer FORBIDDEN, saying how to enable them.
	// Wrong tokens are logged (with the remote address, never the token).
	// A client (an IP address, an IPv6 /64) that sent a wrong one has its
	// tokens checked at most 10 a second across all such clients, and a 429
	// when its wait would pass 2 s; others are checked at once.
	AdminToken string
	// AllowedOrigins are the other sites (scheme://host[:port]) whose pages
	// may send the mutations; from any other Origin, and with a body that
	// is not application/json, they are refused (CSRF).
	AllowedOrigins []string
	// Logger records each cache mutation (who cleared what). Default: discard.
	Logger *slog.Logger
	// Timeout bounds a clear. Default 30 s.
	Timeout time.Duration
	// SampleEvery is how often a Handler samples the figures for its
	// dashboard's charts. Default 2 s; at least 100 ms.
	SampleEvery time.Duration
	// History is how far back the dashboard's charts go. Default 10 min;
	// at most 3,600 samples are kept, a longer History is cut to them.
	History time.Duration
}

// normalize returns o with its defaults and bounds applied.
func (o Options) normalize() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = DefaultSampleEvery
	}
	o.SampleEvery = max(o.SampleEvery, minSampleEvery)
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	o.History = min(max(o.History, o.SampleEvery), maxSamples*o.SampleEvery)
	return o
}

// New returns the handler of the tRPC procedures: monitoring.cacheStats (a
// query), monitoring.cacheClear and monitoring.cacheClearPattern
// (mutations that require Authorization: Bearer <AdminToken>), in tRPC's
// HTTP wire format, batching included (at most MaxBatch procedures a
// call). It answers at any path whose last segment names the procedures
// (/trpc/monitoring.cacheStats, /admin/trpc/monitoring.cacheStats), for
// every method: register it without one, as the mutations are POSTs.
// NewHandler serves it beside the dashboard.
func New(c *aside.Cache, opts Options) http.Handler { return newRouter(c, opts.normalize()) }

func newRouter(c *aside.Cache, opts Options) *router {
	m := &monitor{cache: c, opts: opts}
	if opts.AdminToken != "" {
		sum := sha256.Sum256([]byte(opts.AdminToken))
		m.tokenSum = sum[:]
	}
	return &router{log: opts.Logger, procs: map[string]procedure{
		"monitoring.cacheStats":        {call: m.stats},
		"monitoring.cacheClear":        {mutation: true, call: m.clear},
		"monitoring.cacheClearPattern": {mutation: true, call: m.clearPattern},
	}}
}

type monitor struct {
	cache    *aside.Cache
	opts     Options
	tokenSum []byte    // SHA-256 of the admin token, or nil: mutations disabled
	guesses  guessGate // bounds how many admin tokens are checked
}

// Stats is what monitoring.cacheStats returns: the cache's figures (the
// guide's hits, misses, sets, deletes, errors, hitRate, and more), with the
// hit rate also written for people.
type Stats struct {
	aside.Stats
	HitRateFormatted string `json:"hitRateFormatted"`
}

func (m *monitor) stats(*http.Request, json.RawMessage) (any, *Error) {
	s := m.cache.Stats()
	return Stats{Stats: s, HitRateFormatted: fmt.Sprintf("%.2f%%", s.HitRate)}, nil
}

// ClearResult is what the two mutations return. Success is never true when
// the work failed; Deleted counts the keys removed, also on failure.
type ClearResult struct {
	Success bool   `json:"success"`
	Deleted int    `json:"deleted"`
	Message string `json:"message"`
}

func (m *monitor) clear(r *http.Request, input json.RawMessage) (any, *Error) {
	if err := m.authorize(r); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), m.opts.Timeout)
	defer cancel()
	n, err := m.cache.Clear(ctx)
	m.opts.Logger.Info("monitor: cache cleared", "deleted", n, "err", err, "remote", r.RemoteAddr)
	return result(n, err, fmt.Sprintf("Cleared %d keys under %q", n, m.cache.KeyPrefix())), nil
}

func (m *monitor) clearPattern(r *http.Request, input json.RawMessage) (any, *Error) {
	if err := m.authorize(r); err != nil {
		return nil, err
	}
	pattern, perr := patternOf(input)
	if perr != nil {
		return nil, perr
	}
	ctx, cancel := context.WithTimeout(r.Context(), m.opts.Timeout)
	defer cancel()
	n, err := m.cache.DeletePattern(ctx, pattern)
	if errors.Is(err, aside.ErrBadPattern) {
		return nil, errorf(BadRequest, "%v", err)
	}
	m.opts.Logger.Info("monitor: cache pattern cleared", "pattern", pattern, "deleted", n, "err", err, "remote", r.RemoteAddr)
	return result(n, err, fmt.Sprintf("Deleted %d keys matching %q", n, pattern)), nil
}

func result(n int, err error, ok string) ClearResult {
	if err != nil {
		return ClearResult{Success: false, Deleted: n, Message: fmt.Sprintf("failed after deleting %d keys: %v", n, err)}
	}
	return ClearResult{Success: true, Deleted: n, Message: ok}
}

// patternOf reads {"pattern": "..."}: an object with a non-empty pattern of
// at most MaxPatternLen bytes and nothing else.
func patternOf(input json.RawMessage) (string, *Error) {
	if len(input) == 0 {
		return "", errorf(BadRequest, `input must be {"pattern": "..."}`)
	}
	var in struct {
		Pattern *string `json:"pattern"`
	}
	dec := json.NewDecoder(strings.NewReader(string(input)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return "", errorf(BadRequest, `input must be {"pattern": "..."}: %v`, err)
	}
	switch {
	case in.Pattern == nil || *in.Pattern == "":
		return "", errorf(BadRequest, "pattern must not be empty")
	case len(*in.Pattern) > MaxPatternLen:
		return "", errorf(BadRequest, "pattern is %d bytes, more than %d", len(*in.Pattern), MaxPatternLen)
	}
	return *in.Pattern, nil
}

// authorize refuses what another site's page could have sent (CSRF), then
// checks the bearer token in constant time (comparing SHA-256
// sums, so that not even the token's length leaks), when the guess gate
// lets it; a wrong one is logged, never the token.
func (m *monitor) authorize(r *http.Request) *Error {
	if m.tokenSum == nil {
		return errorf(Forbidden, "cache mutations are disabled: set ASIDE_ADMIN_TOKEN to enable them")
	}
	switch err := csrf.Check(r, m.opts.AllowedOrigins); {
	case errors.Is(err, csrf.ErrForeignOrigin):
		return errorf(Forbidden, "%v", err)
	case err != nil:
		return errorf(UnsupportedMediaType, "%v", err)
	}
	token, ok := BearerToken(r)
	if !ok {
		return errorf(Unauthorized, "missing admin token: send Authorization: Bearer <ASIDE_ADMIN_TOKEN>")
	}
	right := func() bool {
		sum := sha256.Sum256([]byte(token))
		return subtle.ConstantTimeCompare(sum[:], m.tokenSum) == 1
	}
	switch m.guesses.check(r.Context(), clientOf(r), right) {
	case wrongToken:
		m.opts.Logger.Warn("monitor: wrong admin token", "remote", r.RemoteAddr, "path", r.URL.Path)
		return errorf(Unauthorized, "wrong admin token")
	case throttled:
		return errorf(TooManyRequests, "too many wrong admin tokens from this address: try again in a few seconds")
	}
	return nil
}

// BearerToken reads the token of an Authorization: Bearer header; the
// scheme's name is case-insensitive (RFC 9110).
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}
