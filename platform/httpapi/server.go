// Package httpapi serves the platform over HTTP: the REST API of users,
// jobs, job results and sessions (JSON, camelCase fields), the cache's
// dashboard and the guide's monitoring procedures in tRPC's wire format
// (monitor), Prometheus metrics and health checks.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aside-cache/aside/monitor"
	"github.com/aside-cache/aside/platform"
)

// Config is what the server needs.
type Config struct {
	Repo *platform.Repository
	// DBPing checks the database for /readyz.
	DBPing func(context.Context) error
	// StoreName says where the cache lives ("memstore", "redis", "none");
	// StorePing, when set, checks it for /readyz (a failure there is
	// reported, not fatal: the cache is an optimisation).
	StoreName string
	StorePing func(context.Context) error
	// Monitor is the cache's operator surface (see monitor.Handler), served
	// at / (the dashboard), /dashboard/, /stats and /trpc/. Default: one
	// that says there is no cache.
	Monitor http.Handler
	Logger  *slog.Logger
	// AccessLog logs every request at info level. Off by default: at tens
	// of thousands of requests a second it would be the bottleneck.
	AccessLog bool
	// AuthOff lets every request act as the system: no session needed for
	// a mutation, no ownership checked. For local benchmarks only.
	AuthOff bool
	// AllowedOrigins are the other sites (scheme://host[:port]) whose pages
	// may send mutations; the server's own host always may.
	AllowedOrigins []string
}

// server holds the dependencies of the handlers.
type server struct {
	Config
	metrics *httpMetrics
}

// New returns the platform's HTTP handler.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &server{Config: cfg, metrics: newHTTPMetrics(reg)}
	if cfg.Monitor == nil {
		s.Monitor = monitor.Disabled("the server has no cache: there is nothing to monitor")
	}
	if c := cfg.Repo.Cache(); c != nil {
		reg.MustRegister(monitor.NewCollector(c, monitor.CollectorOptions{}))
	}
	mux := http.NewServeMux()
	s.routes(mux, s.Monitor, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return s.instrument(secureHeaders(mux))
}
