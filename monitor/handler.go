package monitor

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/aside-cache/aside"
)

// Handler is a Cache's operator surface, to mount at any prefix P of a
// mux, behind http.StripPrefix or not:
//
//	P                  the live dashboard (a page, its script and style under P/dashboard/)
//	P/dashboard/series the figures the dashboard draws, over the last History
//	P/stats            the cache's Stats as plain JSON
//	P/trpc/...         the tRPC procedures of New
//
// Register it without a method (mux.Handle("/cache/", h)): the clears are
// POSTs, which a pattern such as "GET /cache/" leaves to the mux's 405. A
// Handler that finds itself mounted so says it in its log and on the
// dashboard. It samples the cache's figures every SampleEvery until Close.
type Handler struct {
	cache *aside.Cache // nil in a Handler of Disabled
	off   string       // why there is nothing to show, when cache is nil
	opts  Options
	trpc  *router
	hist  *history
}

// The bounds of Options.SampleEvery and Options.History.
const (
	DefaultSampleEvery = 2 * time.Second
	DefaultHistory     = 10 * time.Minute
	minSampleEvery     = 100 * time.Millisecond
	maxSamples         = 3600
)

// NewHandler returns the operator surface of c, and starts sampling its
// figures for the dashboard: call Close when done with it.
func NewHandler(c *aside.Cache, opts Options) *Handler {
	opts = opts.normalize()
	return &Handler{cache: c, opts: opts, trpc: newRouter(c, opts), hist: newHistory(c, opts.SampleEvery, opts.History)}
}

// Disabled returns the operator surface of a server without a cache: the
// dashboard says message, and every figure and procedure answers
// NOT_FOUND with it (the procedures in tRPC's error envelope, so that a
// tRPC client reports it as it reports any procedure error).
func Disabled(message string) *Handler {
	fail := func(*http.Request, json.RawMessage) (any, *Error) { return nil, errorf(NotFound, "%s", message) }
	return &Handler{off: message, opts: Options{}.normalize(), trpc: &router{procs: map[string]procedure{
		"monitoring.cacheStats":        {call: fail},
		"monitoring.cacheClear":        {mutation: true, call: fail},
		"monitoring.cacheClearPattern": {mutation: true, call: fail},
	}}}
}

// Close stops the sampling. The Handler still answers: its charts stop.
func (h *Handler) Close() error {
	if h.hist != nil {
		h.hist.close()
	}
	return nil
}

// ServeHTTP answers the routes of the Handler's doc by the end of the
// path, so that the Handler needs to know no prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	where, name := routeOf(r.URL.Path)
	if where == procedures {
		h.trpc.ServeHTTP(w, r)
		return
	}
	header := w.Header()
	secure(header)
	switch {
	case where == nowhere:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such page of the monitor")
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		header.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_SUPPORTED", r.Method+" is not allowed here: use GET")
		return
	case where == page || where == asset:
		serveAsset(w, r, name)
		return
	}
	header.Set("Cache-Control", "no-store") // the figures of this moment
	switch {
	case h.cache == nil:
		writeError(w, http.StatusNotFound, "NOT_FOUND", h.off)
	case where == stats:
		writeJSON(w, http.StatusOK, h.cache.Stats())
	default:
		writeJSON(w, http.StatusOK, h.view())
	}
}

// view is the dashboard's figures, with what it needs to know of the
// mutations.
func (h *Handler) view() view {
	v := buildView(h.hist.all(), h.opts.SampleEvery, h.opts.History)
	v.KeyPrefix = h.cache.KeyPrefix()
	v.Mutations = mutationsView{Enabled: true}
	switch why := h.trpc.unreachable(); {
	case h.opts.AdminToken == "":
		v.Mutations = mutationsView{Reason: "cache mutations are disabled: set ASIDE_ADMIN_TOKEN to enable them"}
	case why != "":
		v.Mutations = mutationsView{Reason: why}
	}
	return v
}

// route is what a path of the Handler names.
type route int

const (
	nowhere route = iota
	page
	asset
	series
	stats
	procedures
)

// routeOf reads a path by its end: .../trpc/<names>, .../dashboard/<file>,
// .../stats, or .../ (the dashboard's page).
func routeOf(path string) (route, string) {
	dir, name := path[:strings.LastIndexByte(path, '/')+1], lastSegment(path)
	under := func(d string) bool { return dir == d+"/" || strings.HasSuffix(dir, "/"+d+"/") }
	switch {
	case under("trpc"):
		return procedures, name
	case under("dashboard") && name == "series":
		return series, name
	case under("dashboard") && hasAsset(name):
		return asset, name
	case name == "stats":
		return stats, name
	case name == "" && path != "":
		return page, "index.html"
	}
	return nowhere, ""
}

// secure sets the headers of every page and figure: the page runs only
// its own script and style and talks only to its own server (no CDN, no
// inline code), cannot be framed (its forms hold the admin token), and
// sends no Referer.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// writeError answers {"error":{"code","message"}}, as the platform's REST
// API does.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// NewStatsHandler returns a handler that answers GET with c's Stats as
// plain JSON, for what has no tRPC client: a script, a probe, curl.
func NewStatsHandler(c *aside.Cache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_SUPPORTED", r.Method+" is not allowed here: use GET")
			return
		}
		writeJSON(w, http.StatusOK, c.Stats())
	})
}
