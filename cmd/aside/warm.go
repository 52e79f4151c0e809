package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/platform/sqldb"
	"github.com/aside-cache/aside/redisstore"
)

// warmRecord is what `aside warm` measured.
type warmRecord struct {
	Guide   warmRun `json:"guide"`   // the platform's warm-up: 100 users, 200 jobs
	Entries warmRun `json:"entries"` // Namespace.Warm of -entries users
}

type warmRun struct {
	Written    int     `json:"written"`
	Millis     float64 `json:"millis"`
	RoundTrips int64   `json:"roundTrips"`
}

// roundTrips counts the pipelines a Store sends: each AddMany is one.
type roundTrips struct {
	aside.Store
	n atomic.Int64
}

func (r *roundTrips) AddMany(ctx context.Context, items []aside.Item) (int, error) {
	r.n.Add(1)
	return r.Store.AddMany(ctx, items)
}

// runWarm measures warm-ups into a private redis-server: the platform's
// (the guide's 100 most recent users and 200 most recent jobs, from a
// SQLite database filled with the demo data) and a Namespace.Warm of
// -entries users; for each, the time and the round trips to Redis.
func runWarm(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("warm", stderr)
	entries := fs.Int("entries", 100_000, "entries of the large warm-up")
	jsonOut := fs.String("json", "", "also write the record as JSON to this file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *entries <= 0 {
		return fmt.Errorf("-entries %d: want at least 1", *entries)
	}
	srv, dir, stop, err := privateRedis("warm")
	if err != nil {
		return err
	}
	defer stop()
	newCache := func(prefix string) (*aside.Cache, *roundTrips, error) {
		rs, err := redisstore.New(redisstore.Options{Addrs: []string{srv.Addr}})
		if err != nil {
			return nil, nil, err
		}
		counted := &roundTrips{Store: rs}
		c, err := aside.New(counted, aside.Options{KeyPrefix: prefix, OpTimeout: 5 * time.Second})
		return c, counted, err
	}

	var rec warmRecord
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(dir, "warm.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	seeded := showProgress(stderr, func() string { return "seeding 1,000 users and 10,000 jobs" })
	_, err = db.Seed(ctx, platform.NewDemo(1000, 10000, 1, time.Now()))
	seeded()
	if err != nil {
		return err
	}
	c, counted, err := newCache("guide:")
	if err != nil {
		return err
	}
	defer c.Close()
	repo, err := platform.NewRepository(db, c, nil)
	if err != nil {
		return err
	}
	rep, err := repo.Warm(ctx)
	if err != nil {
		return err
	}
	rec.Guide = warmRun{Written: rep.Users + rep.UsersByOpenID + rep.Jobs, Millis: ms(rep.Took), RoundTrips: counted.n.Load()}

	c2, counted2, err := newCache("bulk:")
	if err != nil {
		return err
	}
	defer c2.Close()
	users, err := aside.NewNamespace[platform.User](c2, platform.UsersNS)
	if err != nil {
		return err
	}
	demo := platform.NewDemo(*entries, 0, 2, time.Now())
	warmed := showProgress(stderr, func() string { return fmt.Sprintf("warming %d users", *entries) })
	defer warmed()
	start := time.Now()
	written, err := users.Warm(ctx, func(yield func(string, platform.User) bool) {
		for _, u := range demo.Users {
			if !yield(strconv.FormatInt(u.ID, 10), u) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	rec.Entries = warmRun{Written: written, Millis: ms(time.Since(start)), RoundTrips: counted2.n.Load()}
	warmed()

	fmt.Fprintf(stdout, "the guide's warm-up (100 users by id and by open id, 200 jobs): %d entries in %.1f ms, %d round trips to Redis\n",
		rec.Guide.Written, rec.Guide.Millis, rec.Guide.RoundTrips)
	fmt.Fprintf(stdout, "Namespace.Warm of %d users: %d entries in %.0f ms, %d round trips to Redis\n",
		*entries, rec.Entries.Written, rec.Entries.Millis, rec.Entries.RoundTrips)
	if *jsonOut != "" {
		return writeJSON(*jsonOut, rec)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
