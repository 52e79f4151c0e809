package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aside-cache/aside"
)

// The guide's cache configuration, as data: its four kinds of data and
// their TTLs, and the two namespaces a complete data access needs beside
// them (users by open id; job lists, keyed by the owner's jobs generation,
// which is cached under genPrefix, outside every namespace).
var (
	UsersNS       = aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
	UsersByOpenNS = aside.NamespaceConfig{Name: "users_by_open_id", Prefix: "user:openid:", TTL: time.Hour}
	JobsNS        = aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: 5 * time.Minute}
	JobListsNS    = aside.NamespaceConfig{Name: "job_lists", Prefix: "job:user:", TTL: 5 * time.Minute}
	ResultsNS     = aside.NamespaceConfig{Name: "job_results", Prefix: "job:result:", TTL: 10 * time.Minute}
	SessionsNS    = aside.NamespaceConfig{Name: "sessions", Prefix: "session:", TTL: SessionTTL}
)

// Repository is the platform's data access: every read of users, jobs,
// results and sessions goes through the cache, and every write goes to the
// database and then invalidates every cached key it affected. It is the
// only code that calls the DB. It is safe for concurrent use.
//
// With a nil cache, reads go straight to the database (the "uncached"
// configuration that benchmarks compare against).
type Repository struct {
	db    DB
	cache *aside.Cache
	log   *slog.Logger
	now   func() time.Time

	users    *aside.Namespace[User]
	byOpenID *aside.Namespace[User]
	jobs     *aside.Namespace[Job]
	results  *aside.Namespace[JobResult]
	sessions *aside.Namespace[Session]
	lists    *aside.Namespace[[]Job] // the lists' policy and stats: list keys (listKey) are read through GetOrSet

	// passThrough: the cache encodes values as the API does (aside.JSON),
	// so that the JSON reads can answer with cached bytes as they are.
	passThrough bool
}

// NewRepository returns the data access over db, caching in c (nil: none).
func NewRepository(db DB, c *aside.Cache, log *slog.Logger) (*Repository, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Repository{db: db, cache: c, log: log, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	if c == nil {
		return r, nil
	}
	var errs [6]error
	r.users, errs[0] = aside.NewNamespace[User](c, UsersNS)
	r.byOpenID, errs[1] = aside.NewNamespace[User](c, UsersByOpenNS)
	r.jobs, errs[2] = aside.NewNamespace[Job](c, JobsNS)
	r.results, errs[3] = aside.NewNamespace[JobResult](c, ResultsNS)
	r.sessions, errs[4] = aside.NewNamespace[Session](c, SessionsNS)
	r.lists, errs[5] = aside.NewNamespace[[]Job](c, JobListsNS)
	_, r.passThrough = c.Codec().(aside.JSON)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return r, nil
}

// Cache returns the cache, or nil when reads go straight to the database.
func (r *Repository) Cache() *aside.Cache { return r.cache }

// read answers a read through the namespace, or from load alone without a
// cache. A row the database lacks comes back as ErrNotFound either way,
// named by what: "user 7: not found".
func read[T any](ctx context.Context, r *Repository, ns *aside.Namespace[T], id, what string, load func(context.Context) (T, error)) (T, error) {
	if r.cache == nil {
		return load(ctx)
	}
	v, err := ns.Get(ctx, id, cacheable(load))
	return v, uncache(err, what)
}

// cacheable makes a loader's ErrNotFound the cache's, so that a missing row
// is cached as a negative entry.
func cacheable[T any](load func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		v, err := load(ctx)
		if errors.Is(err, ErrNotFound) {
			return v, aside.ErrNotFound
		}
		return v, err
	}
}

// uncache turns the cache's ErrNotFound (fresh from the loader or from a
// negative entry) back into ours.
func uncache(err error, what string) error {
	if err != nil && errors.Is(err, aside.ErrNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// GetUser returns the user with the given id.
func (r *Repository) GetUser(ctx context.Context, userID int64) (User, error) {
	return read(ctx, r, r.users, id(userID), "user "+id(userID), func(ctx context.Context) (User, error) {
		return r.db.UserByID(ctx, userID)
	})
}

// GetUserByOpenID returns the user with the given open id.
func (r *Repository) GetUserByOpenID(ctx context.Context, openID string) (User, error) {
	if err := checkText("openId", openID, maxOpenID, true); err != nil {
		return User{}, err
	}
	return read(ctx, r, r.byOpenID, openID, fmt.Sprintf("user with open id %q", openID), func(ctx context.Context) (User, error) {
		return r.db.UserByOpenID(ctx, openID)
	})
}

// GetJob returns the job with the given id.
func (r *Repository) GetJob(ctx context.Context, jobID int64) (Job, error) {
	return read(ctx, r, r.jobs, id(jobID), "job "+id(jobID), func(ctx context.Context) (Job, error) {
		return r.db.JobByID(ctx, jobID)
	})
}

// GetJobResult returns the result of a completed job.
func (r *Repository) GetJobResult(ctx context.Context, jobID int64) (JobResult, error) {
	return read(ctx, r, r.results, id(jobID), "result of job "+id(jobID), func(ctx context.Context) (JobResult, error) {
		return r.db.ResultByJob(ctx, jobID)
	})
}

// ListJobsByUser returns the user's newest jobs, newest first, limit
// between 1 and MaxJobsLimit. A list is cached under a key that holds the
// owner's jobs generation, so any change to the user's jobs makes all of
// the user's cached lists unreachable at once (one invalidation, no SCAN);
// old lists age out with their TTL.
func (r *Repository) ListJobsByUser(ctx context.Context, userID int64, limit int) ([]Job, error) {
	if limit < 1 || limit > MaxJobsLimit {
		return nil, invalid("limit %d is outside 1-%d", limit, MaxJobsLimit)
	}
	if r.cache == nil {
		if _, err := r.db.JobsGeneration(ctx, userID); err != nil {
			return nil, err
		}
		return r.db.JobsByUser(ctx, userID, limit)
	}
	key, err := r.currentListKey(ctx, userID, limit)
	if err != nil {
		return nil, err
	}
	return aside.GetOrSet(ctx, r.cache, key, JobListsNS.TTL, r.jobsByUser(userID, limit))
}

// currentListKey returns the key of the user's list under the current
// jobs generation (read through the cache: an unknown user is
// ErrNotFound).
func (r *Repository) currentListKey(ctx context.Context, userID int64, limit int) (string, error) {
	gen, err := aside.GetOrSet(ctx, r.cache, genKey(userID), JobListsNS.TTL, cacheable(func(ctx context.Context) (int64, error) {
		return r.db.JobsGeneration(ctx, userID)
	}))
	if err != nil {
		return "", uncache(err, "user "+id(userID))
	}
	return listKey(userID, gen, limit), nil
}

func (r *Repository) jobsByUser(userID int64, limit int) func(context.Context) ([]Job, error) {
	return func(ctx context.Context) ([]Job, error) { return r.db.JobsByUser(ctx, userID, limit) }
}

// genPrefix begins the key that caches a user's jobs generation. It lies
// outside every namespace's prefix (it is not "job:..."), so that reading
// the generation counts in the totals only: one cached list read is one
// hit of job_lists, not two.
const genPrefix = "jobgen:"

// genKey is the key of a user's jobs generation; listKey is the key of one
// of the user's lists under a generation. The pattern "job:user:<id>:*"
// reaches all of the user's lists, as in the guide.
func genKey(userID int64) string { return genPrefix + id(userID) }

func listKey(userID, gen int64, limit int) string {
	return fmt.Sprintf("%s%d:g%d:l%d", JobListsNS.Prefix, userID, gen, limit)
}

// invalidate removes keys from the cache after a committed write. The
// write stands whatever happens here, so a failure is logged, not
// returned: the caller's request succeeded.
func (r *Repository) invalidate(ctx context.Context, what string, keys ...string) {
	if r.cache == nil {
		return
	}
	_, err := r.cache.Delete(context.WithoutCancel(ctx), keys...)
	switch {
	case errors.Is(err, aside.ErrDeferred):
		r.log.Info("platform: invalidation deferred until the cache answers", "write", what, "keys", keys)
	case err != nil:
		r.log.Warn("platform: invalidation failed; entries may be stale until their TTL",
			"write", what, "keys", keys, "err", err)
	}
}

// keyOf returns the key of id in a namespace, or "" without a cache.
func keyOf[T any](ns *aside.Namespace[T], id string) string {
	if ns == nil {
		return ""
	}
	return ns.Key(id)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
