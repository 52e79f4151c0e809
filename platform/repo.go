package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aside-cache/aside"
)

// The guide's cache configuration, as data: its four kinds of data and
// their TTLs, and the two namespaces a complete data access needs beside
// them (users by open id; job lists, the ids of a user's newest jobs, in
// the group of the user's jobs).
var (
	UsersNS       = aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
	UsersByOpenNS = aside.NamespaceConfig{Name: "users_by_open_id", Prefix: "user:openid:", TTL: time.Hour}
	JobsNS        = aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: 5 * time.Minute}
	JobListsNS    = aside.NamespaceConfig{Name: "job_lists", Prefix: "job:user:", TTL: 5 * time.Minute, Groups: jobListGroups}
	ResultsNS     = aside.NamespaceConfig{Name: "job_results", Prefix: "job:result:", TTL: 10 * time.Minute}
	SessionsNS    = aside.NamespaceConfig{Name: "sessions", Prefix: "session:", TTL: SessionCacheTTL}
)

// SessionCacheTTL is how long a session stays cached: not the guide's 24
// hours (a session's own life) but 5 minutes, because it bounds how long
// another instance honours a session that ended on an instance that could
// not reach Redis to say so (and stopped before it could), at the cost of
// one database read per active session per 5 minutes.
const SessionCacheTTL = 5 * time.Minute

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
	lists    *aside.Namespace[[]int64]

	// passThrough: the cache encodes values as the API does (aside.JSON),
	// so that the JSON reads can answer with cached bytes as they are.
	passThrough bool

	passwords *hasher
}

// NewRepository returns the data access over db, caching in c (nil: none).
func NewRepository(db DB, c *aside.Cache, log *slog.Logger) (*Repository, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Repository{db: db, cache: c, log: log, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		passwords: newHasher()}
	if c == nil {
		return r, nil
	}
	var errs [6]error
	r.users, errs[0] = aside.NewNamespace[User](c, UsersNS)
	r.byOpenID, errs[1] = aside.NewNamespace[User](c, UsersByOpenNS)
	r.jobs, errs[2] = aside.NewNamespace[Job](c, JobsNS)
	r.results, errs[3] = aside.NewNamespace[JobResult](c, ResultsNS)
	r.sessions, errs[4] = aside.NewNamespace[Session](c, SessionsNS)
	r.lists, errs[5] = aside.NewNamespace[[]int64](c, JobListsNS)
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
// between 1 and MaxJobsLimit. It is ListJobsByUserJSON, decoded.
func (r *Repository) ListJobsByUser(ctx context.Context, userID int64, limit int) ([]Job, error) {
	b, err := r.ListJobsByUserJSON(ctx, userID, limit)
	if err != nil {
		return nil, err
	}
	var jobs []Job
	if err := json.Unmarshal(b, &jobs); err != nil {
		return nil, fmt.Errorf("platform: jobs of user %d: %w", userID, err)
	}
	return jobs, nil
}

// A user's job list is cached as the ids of the user's newest
// MaxJobsLimit jobs (whatever limit is asked for: a limit cannot multiply
// the entries), and read with the jobs' own entries, in one store call.
// The list is in the group of the user's jobs, which the creation and
// the deletion of a job invalidate; a change of a job (its status, its
// progress, its result) invalidates the job's entry alone, not every list
// that shows it.

// jobListGroups names the groups of the list of a user (its id).
func jobListGroups(userID string) []string { return []string{jobsGroup(userID)} }

// jobsGroup is the group of the lists of a user's jobs.
func jobsGroup(userID string) string { return "jobs-of-user:" + userID }

// jobIDsOf reads the ids of the user's newest jobs, newest first, through
// the cache (an unknown user is ErrNotFound).
func (r *Repository) jobIDsOf(ctx context.Context, userID int64) ([]int64, error) {
	return read(ctx, r, r.lists, id(userID), "user "+id(userID), func(ctx context.Context) ([]int64, error) {
		return r.db.JobIDsByUser(ctx, userID, MaxJobsLimit)
	})
}

// jobsJSON returns the JSON array of the jobs of ids, in their order: from
// the cache, in one store call and one database query for those it lacks
// (GetManyEncoded: a cached job is sent as its cached bytes). A job gone
// meanwhile is left out.
func (r *Repository) jobsJSON(ctx context.Context, ids []int64) ([]byte, error) {
	keys := make([]string, len(ids))
	for i, j := range ids {
		keys[i] = id(j)
	}
	var encoded map[string][]byte
	var err error
	switch {
	case r.cache == nil:
		encoded, err = r.encodeJobs(ctx, keys)
	case r.passThrough:
		encoded, err = r.jobs.GetManyEncoded(ctx, keys, r.loadJobs)
	default:
		var jobs map[string]Job
		if jobs, err = r.jobs.GetMany(ctx, keys, r.loadJobs); err == nil {
			encoded, err = encodeEach(jobs)
		}
	}
	if err != nil {
		return nil, err
	}
	return joinArray(keys, encoded), nil
}

// loadJobs is the jobs' batch loader: the jobs of ids that exist.
func (r *Repository) loadJobs(ctx context.Context, ids []string) (map[string]Job, error) {
	nums := make([]int64, 0, len(ids))
	for _, s := range ids {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("platform: job id %q: %w", s, err)
		}
		nums = append(nums, n)
	}
	jobs, err := r.db.JobsByIDs(ctx, nums)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Job, len(jobs))
	for _, j := range jobs {
		out[id(j.ID)] = j
	}
	return out, nil
}

// encodeJobs reads the jobs of ids from the database, as JSON.
func (r *Repository) encodeJobs(ctx context.Context, ids []string) (map[string][]byte, error) {
	jobs, err := r.loadJobs(ctx, ids)
	if err != nil {
		return nil, err
	}
	return encodeEach(jobs)
}

func encodeEach(jobs map[string]Job) (map[string][]byte, error) {
	out := make(map[string][]byte, len(jobs))
	for k, j := range jobs {
		b, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		out[k] = b
	}
	return out, nil
}

// joinArray is the JSON array of the elements of keys that elements has,
// in the order of keys: [] when none.
func joinArray(keys []string, elements map[string][]byte) []byte {
	size := 2
	for _, k := range keys {
		size += len(elements[k]) + 1
	}
	b := append(make([]byte, 0, size), '[')
	for _, k := range keys {
		e, ok := elements[k]
		if !ok {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, ']')
}

// invalidate makes old in the cache, in one store call, what a committed
// write changed. The write stands whatever happens here, so a failure is
// logged, not returned: the caller's request succeeded.
func (r *Repository) invalidate(ctx context.Context, what string, changed ...aside.Invalidation) {
	if r.cache == nil {
		return
	}
	err := r.cache.Invalidate(context.WithoutCancel(ctx), changed...)
	switch {
	case errors.Is(err, aside.ErrDeferred):
		r.log.Info("platform: invalidation deferred until the cache answers", "write", what)
	case err != nil:
		r.log.Warn("platform: invalidation failed; entries may be stale until their TTL", "write", what, "err", err)
	}
}

// of names ids of a namespace for invalidate; nothing without a cache.
func of[T any](ns *aside.Namespace[T], ids ...string) aside.Invalidation {
	if ns == nil {
		return aside.Invalidation{}
	}
	return ns.IDs(ids...)
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
