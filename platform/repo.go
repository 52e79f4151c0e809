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
// them (users by open id; job lists, keyed by the owner's jobs generation,
// which is cached under genPrefix, outside every namespace).
var (
	UsersNS       = aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour}
	UsersByOpenNS = aside.NamespaceConfig{Name: "users_by_open_id", Prefix: "user:openid:", TTL: time.Hour}
	JobsNS        = aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: 5 * time.Minute}
	JobListsNS    = aside.NamespaceConfig{Name: "job_lists", Prefix: "job:user:", TTL: 5 * time.Minute}
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
	lists    *aside.Namespace[jobList]

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
	r.lists, errs[5] = aside.NewNamespace[jobList](c, JobListsNS)
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

// jobList is a user's newest MaxJobsLimit jobs as the API sends them: the
// JSON array, and where each element of it ends, so that a list of any
// shorter limit is a prefix of it. One is cached per user (per jobs
// generation), whatever limits are asked for: a limit cannot multiply the
// entries, and a cached list is served without encoding a job.
type jobList struct {
	Array json.RawMessage `json:"array"`
	Ends  []int           `json:"ends"` // Ends[i] is the offset just past element i
}

// newJobList encodes jobs as a jobList.
func newJobList(jobs []Job) (jobList, error) {
	l := jobList{Array: []byte{'['}, Ends: make([]int, 0, len(jobs))}
	for i, j := range jobs {
		if i > 0 {
			l.Array = append(l.Array, ',')
		}
		b, err := json.Marshal(j)
		if err != nil {
			return l, err
		}
		l.Array = append(l.Array, b...)
		l.Ends = append(l.Ends, len(l.Array))
	}
	l.Array = append(l.Array, ']')
	return l, nil
}

// first returns the JSON array of the list's first n jobs: the list's own
// bytes when it has no more than n, else a copy of their prefix.
func (l jobList) first(n int) []byte {
	if n >= len(l.Ends) {
		return l.Array
	}
	end := l.Ends[n-1]
	b := make([]byte, end+1)
	copy(b, l.Array[:end])
	b[end] = ']'
	return b
}

// jobListOf reads the user's list through the cache, under the current
// jobs generation (an unknown user is ErrNotFound), or from the database
// without a cache.
func (r *Repository) jobListOf(ctx context.Context, userID int64) (jobList, error) {
	if r.cache == nil {
		if _, err := r.db.JobsGeneration(ctx, userID); err != nil {
			return jobList{}, err
		}
		return r.loadJobList(userID)(ctx)
	}
	gen, err := aside.GetOrSet(ctx, r.cache, genKey(userID), JobListsNS.TTL, cacheable(func(ctx context.Context) (int64, error) {
		return r.db.JobsGeneration(ctx, userID)
	}))
	if err != nil {
		return jobList{}, uncache(err, "user "+id(userID))
	}
	return r.lists.Get(ctx, listID(userID, gen), r.loadJobList(userID))
}

func (r *Repository) loadJobList(userID int64) func(context.Context) (jobList, error) {
	return func(ctx context.Context) (jobList, error) {
		jobs, err := r.db.JobsByUser(ctx, userID, MaxJobsLimit)
		if err != nil {
			return jobList{}, err
		}
		return newJobList(jobs)
	}
}

// genPrefix begins the key that caches a user's jobs generation. It lies
// outside every namespace's prefix (it is not "job:..."), so that reading
// the generation counts in the totals only: one cached list read is one
// hit of job_lists, not two.
const genPrefix = "jobgen:"

// genKey is the key of a user's jobs generation; listID is the id, in the
// job_lists namespace, of the user's list under a generation. The pattern
// "job:user:<id>.*" reaches all of the user's lists.
func genKey(userID int64) string { return genPrefix + id(userID) }

func listID(userID, gen int64) string { return fmt.Sprintf("%d.g%d", userID, gen) }

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
