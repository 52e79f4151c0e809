package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/platform"
)

// Job lists cannot multiply what the cache holds: a user's 100 jobs of the
// largest input, read at every limit from 1 to 100, twice, leave one list
// in the cache, and the heap less than 16 MiB larger (the jobs' inputs
// alone are 1.6 MiB). The store has room for far more: the bound under
// test is the lists', not the store's.
func TestJobListsCannotMultiplyEntries(t *testing.T) {
	s, err := memstore.New(memstore.Options{MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newRepoOn(t, s, aside.Options{KeyPrefix: "bounds:"})
	ctx := context.Background()
	u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "lists", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(map[string]string{"blob": strings.Repeat("x", platform.MaxJobInput-16)})
	for range 100 {
		if _, err := r.CreateJob(ctx, platform.System, platform.NewJob{UserID: u.ID, Type: "big", Input: input}); err != nil {
			t.Fatal(err)
		}
	}
	before := heapAlloc()
	for range 2 {
		last := 0
		for limit := 1; limit <= platform.MaxJobsLimit; limit++ {
			b, err := r.ListJobsByUserJSON(ctx, u.ID, limit)
			if err != nil || len(b) <= last {
				t.Fatalf("list of limit %d: %d bytes after %d, %v", limit, len(b), last, err)
			}
			last = len(b)
			if limit%25 != 0 {
				continue
			}
			var jobs []json.RawMessage
			if err := json.Unmarshal(b, &jobs); err != nil || len(jobs) != limit {
				t.Fatalf("list of limit %d: %d jobs, %v", limit, len(jobs), err)
			}
		}
	}
	keys, _, err := s.Scan(ctx, "", "bounds:job:user:*", 1000)
	if err != nil || len(keys) != 1 {
		t.Errorf("list entries cached for 200 reads at 100 limits = %d (%v); want 1", len(keys), err)
	}
	if grown := heapAlloc() - before; grown > 16<<20 {
		t.Errorf("the heap grew by %d MiB for 200 list reads; want under 16 MiB", grown>>20)
	}
}

func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// A missing row is cached under a key of bounded length, whatever the id
// asked for: an open id of 255 colons escapes to 765 bytes, and is hashed.
func TestNegativeEntriesHaveBoundedKeys(t *testing.T) {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newRepoOn(t, s, aside.Options{KeyPrefix: "keys:"})
	ctx := context.Background()
	if _, err := r.GetUserByOpenID(ctx, strings.Repeat(":", 255)); !errors.Is(err, platform.ErrNotFound) {
		t.Fatalf("GetUserByOpenID of a missing open id = %v; want ErrNotFound", err)
	}
	keys, _, err := s.Scan(ctx, "", "keys:*", 1000)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %q, %v; want the one negative entry", keys, err)
	}
	if n := len(keys[0]); n > len("keys:user:openid:")+aside.MaxIDLen {
		t.Errorf("the negative entry's key is %d bytes (%.40q...); want at most %d", n, keys[0], len("keys:user:openid:")+aside.MaxIDLen)
	}
}
