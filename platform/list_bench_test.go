package platform_test

import (
	"context"
	"testing"

	"github.com/aside-cache/aside/platform"
)

// BenchmarkListJobs reads a cached list of 50 jobs on memstore: the
// list's ids and the jobs' encoded entries, joined.
//
//	go test -run '^$' -bench ListJobs -count 6 ./platform/
func BenchmarkListJobs(b *testing.B) {
	r, _ := newRepo(b, true)
	ctx := context.Background()
	u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "bench", Password: "bench-password-1"})
	if err != nil {
		b.Fatal(err)
	}
	for range 60 {
		if _, err := r.CreateJob(ctx, platform.System, platform.NewJob{UserID: u.ID, Type: "export"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := r.ListJobsByUserJSON(ctx, u.ID, 50); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ListJobsByUserJSON(ctx, u.ID, 50); err != nil {
			b.Fatal(err)
		}
	}
}
