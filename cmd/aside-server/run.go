package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/monitor"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/platform/httpapi"
	"github.com/aside-cache/aside/platform/sqldb"
)

// Demo data for an empty database, as the README promises a newcomer.
const (
	demoUsers = 1000
	demoJobs  = 10000
)

// run is the whole server: it returns when ctx ends (after a graceful
// shutdown) or when it cannot start. No secret of the configuration
// reaches its error or its logs (see secrets).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	secrets := readSecrets(getenv)
	defer func() { err = secrets.redactError(err) }()
	cfg, err := readConfig(getenv)
	if err != nil {
		return err
	}
	log := slog.New(secrets.handler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel})))

	db, err := sqldb.Open(ctx, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	cache, storeName, storePing, err := openCache(cfg, log)
	if err != nil {
		return err
	}
	if cache != nil {
		defer cache.Close()
	}
	if cfg.seed && seed(ctx, log, db) && cache != nil {
		clearAfterSeed(ctx, log, cache)
	}
	repo, err := platform.NewRepository(db, cache, log)
	if err != nil {
		return err
	}
	if err := setUpAuth(ctx, log, repo, cfg.auth); err != nil {
		return err
	}
	if cache != nil {
		warm(ctx, log, repo)
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	mon := newMonitor(cfg, cache, log)
	defer mon.Close()
	srv := newHTTPServer(log, httpapi.New(httpapi.Config{
		Repo: repo, DBPing: db.Ping, StoreName: storeName, StorePing: storePing,
		Monitor: mon, Logger: log, AccessLog: cfg.accessLog,
		AuthOff: cfg.auth.off, AllowedOrigins: cfg.auth.allowedOrigins,
	}))
	attrs := []any{"addr", ln.Addr().String(), "database", sqldb.Describe(cfg.databaseURL), "cache", storeName}
	if cfg.cache.Redis != nil && !cfg.cacheOff {
		attrs = append(attrs, "redis", redisAddress(*cfg.cache.Redis), "nearCache", cfg.cache.Options.NearCache.Enabled)
	}
	log.Info("listening", append(attrs, "keyPrefix", cfg.cache.Options.KeyPrefix, "adminToken", adminState(cfg.adminToken))...)

	pruneCtx, stopPruning := context.WithCancel(ctx)
	defer stopPruning()
	go pruneSessions(pruneCtx, log, repo)
	return srv.serve(ctx, ln)
}

// newMonitor returns the cache's dashboard and monitoring procedures, or,
// with ASIDE_CACHE=off, pages that say there is no cache.
func newMonitor(cfg config, cache *aside.Cache, log *slog.Logger) *monitor.Handler {
	if cache == nil {
		return monitor.Disabled("the cache is off (ASIDE_CACHE=off): there is nothing to monitor")
	}
	return monitor.NewHandler(cache, monitor.Options{AdminToken: cfg.adminToken, AllowedOrigins: cfg.auth.allowedOrigins, Logger: log})
}

func adminState(token string) string {
	if token == "" {
		return "unset: cache mutations disabled (set ASIDE_ADMIN_TOKEN)"
	}
	return "set"
}

// openCache opens the store the configuration names and the cache over it;
// no cache at all with ASIDE_CACHE=off.
func openCache(cfg config, log *slog.Logger) (c *aside.Cache, name string, ping func(context.Context) error, err error) {
	if cfg.cacheOff {
		return nil, "none", nil, nil
	}
	if c, err = cfg.cache.Open(log); err != nil {
		return nil, "", nil, err
	}
	if cfg.cache.Redis == nil {
		return c, "memstore", nil, nil
	}
	return c, "redis", c.Ping, nil
}

// seed fills an empty database with demo data and reports whether it did;
// a failure is logged, and the server starts all the same.
func seed(ctx context.Context, log *slog.Logger, db *sqldb.DB) bool {
	start := time.Now()
	seeded, err := db.Seed(ctx, platform.NewDemo(demoUsers, demoJobs, uint64(time.Now().UnixNano()), time.Now()))
	switch {
	case err != nil:
		log.Error("demo data: seeding failed", "err", err)
	case seeded:
		log.Info("demo data: filled an empty database", "users", demoUsers, "jobs", demoJobs, "took", time.Since(start).String())
	}
	return seeded
}

// clearAfterSeed empties the cache after the demo data filled a new
// database. Redis may still hold entries under the same prefix from an
// earlier database (one deleted to start afresh): user 1 there is another
// user than user 1 here, and warm-up, which never overwrites a present
// entry, would leave it to be served. A clear Redis cannot finish now is
// kept and finished before the cache uses Redis again.
func clearAfterSeed(ctx context.Context, log *slog.Logger, cache *aside.Cache) {
	removed, err := cache.Clear(ctx)
	switch {
	case errors.Is(err, aside.ErrDeferred):
		log.Warn("demo data: cache clear deferred until the cache answers", "removed", removed, "err", err)
	case err != nil:
		log.Error("demo data: cache clear failed; entries of an earlier database may be served until their TTL",
			"removed", removed, "err", err)
	default:
		log.Info("demo data: cleared the cache of entries from an earlier database", "removed", removed)
	}
}

// warm fills the cache with the guide's warm-up; start-up goes on when the
// cache is unavailable.
func warm(ctx context.Context, log *slog.Logger, repo *platform.Repository) {
	rep, err := repo.Warm(ctx)
	attrs := []any{"users", rep.Users, "usersByOpenId", rep.UsersByOpenID, "jobs", rep.Jobs, "took", rep.Took.String()}
	if err != nil {
		log.Warn("warm-up incomplete; serving without it", append(attrs, "err", err)...)
		return
	}
	log.Info("warm-up done", attrs...)
}

// pruneSessions deletes expired sessions at start and every 10 minutes.
func pruneSessions(ctx context.Context, log *slog.Logger, repo *platform.Repository) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if n, err := repo.PruneSessions(ctx); err != nil && ctx.Err() == nil {
			log.Warn("pruning expired sessions failed", "err", err)
		} else if n > 0 {
			log.Info("pruned expired sessions", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// setUpAuth makes the first admin when ASIDE_ADMIN_OPEN_ID asks for one,
// and says loudly when authorization is off.
func setUpAuth(ctx context.Context, log *slog.Logger, repo *platform.Repository, a authConfig) error {
	if a.off {
		log.Warn("AUTHORIZATION IS OFF (ASIDE_AUTH=off): anyone can change any user, job or result; for local benchmarks only")
	}
	if a.adminOpenID == "" {
		return nil
	}
	u, err := repo.EnsureAdmin(ctx, a.adminOpenID, a.adminPassword)
	if errors.Is(err, platform.ErrForbidden) {
		// Someone took the open id: start without an admin made, rather
		// than let a user's rename stop the next start.
		log.Error("ASIDE_ADMIN_OPEN_ID names a user who is no admin, and ASIDE_ADMIN_PASSWORD is not their password: not promoted", "openId", a.adminOpenID, "id", u.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ASIDE_ADMIN_OPEN_ID %q: %w", a.adminOpenID, err)
	}
	log.Info("admin ready", "openId", u.OpenID, "id", u.ID, "passwordSet", a.adminPassword != "")
	return nil
}
