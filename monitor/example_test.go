package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/monitor"
)

// Mounting the monitor in a service of your own: the dashboard, the
// figures and the clears under /ops/cache/, and the cache's metrics
// beside the service's, labelled with the cache's name so that a second
// cache could share the registry.
func ExampleNewHandler() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	users, _ := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})
	for range 4 {
		users.Get(context.Background(), "1", func(context.Context) (string, error) { return "ada", nil })
	}

	mon := monitor.NewHandler(c, monitor.Options{AdminToken: "from-your-secret-store-0123456789"})
	defer mon.Close()
	mux := http.NewServeMux()
	mux.Handle("/ops/cache/", mon) // no method in the pattern: the clears are POSTs
	reg := prometheus.NewRegistry()
	reg.MustRegister(monitor.NewCollector(c, monitor.CollectorOptions{ConstLabels: prometheus.Labels{"cache": "main"}}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	for _, path := range []string{"/ops/cache/", "/ops/cache/stats", "/ops/cache/trpc/monitoring.cacheStats", "/metrics"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code, w.Header().Get("Content-Type"))
	}
	fmt.Printf("hit rate %.0f%%\n", c.Stats().HitRate)
	// Output:
	// /ops/cache/ 200 text/html; charset=utf-8
	// /ops/cache/stats 200 application/json
	// /ops/cache/trpc/monitoring.cacheStats 200 application/json
	// /metrics 200 text/plain; version=0.0.4; charset=utf-8; escaping=underscores
	// hit rate 75%
}
