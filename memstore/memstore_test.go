package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/storetest"
)

func newStore(t *testing.T) *memstore.Store {
	t.Helper()
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatalf("memstore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) aside.Store { return newStore(t) })
}

// Entries expire after their TTL. Time is synctest's, so no test sleeps.
func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		s.Set(ctx, "short", []byte("v"), time.Second)
		s.SetValue("value", 42, 2*time.Second)
		s.Set(ctx, "long", []byte("v"), time.Hour)

		time.Sleep(1500 * time.Millisecond)
		if _, found, _ := s.Get(ctx, "short"); found {
			t.Error("short (1s) still there after 1.5s")
		}
		if _, found, _ := s.TTL(ctx, "short"); found {
			t.Error("TTL(short) after expiry: found")
		}
		if ttl, found, _ := s.TTL(ctx, "value"); !found || ttl != 500*time.Millisecond {
			t.Errorf("TTL(value) after 1.5s of 2s = %v, %v; want 500ms", ttl, found)
		}
		if prior, _ := s.Delete(ctx, 1, "short"); len(prior) != 1 || prior[0] != nil {
			t.Errorf("Delete(expired) = %q; want [nil]: an expired entry is not there to remove", prior)
		}
		time.Sleep(time.Second)
		if _, found := s.GetValue("value"); found {
			t.Error("value (2s) still there after 2.5s")
		}
		if _, found, _ := s.Get(ctx, "long"); !found {
			t.Error("long (1h) gone after 2.5s")
		}
	})
}

func TestValues(t *testing.T) {
	s := newStore(t)
	s.SetValue("k", []int{1, 2}, time.Hour)
	if v, ok := s.GetValue("k"); !ok || len(v.([]int)) != 2 {
		t.Errorf("GetValue(k) = %v, %v", v, ok)
	}
	if cur, found := s.AddOrGetValue("k", 3, time.Hour); !found || len(cur.([]int)) != 2 {
		t.Errorf("AddOrGetValue over a present key = %v, %v; want the present value", cur, found)
	}
	if _, found := s.AddOrGetValue("k2", 3, time.Hour); found {
		t.Error("AddOrGetValue on an absent key: found")
	}
	type lease struct{ _ byte }
	mine, theirs := &lease{}, &lease{}
	s.SetValue("l", mine, time.Hour)
	if s.CompareAndSetValue("l", theirs, 1, time.Hour) {
		t.Error("CompareAndSetValue with another lease swapped")
	}
	if s.CompareAndSetValue("k", []int{1, 2}, 1, time.Hour) {
		t.Error("CompareAndSetValue against an uncomparable value swapped (or it would have panicked)")
	}
	if !s.CompareAndSetValue("l", mine, 1, time.Hour) {
		t.Error("CompareAndSetValue with the right lease did not swap")
	}
	if _, _, err := s.Get(context.Background(), "k"); err == nil {
		t.Error("Get (bytes) of a decoded value: no error")
	}
	s.SetValue("zero-ttl", 1, 0)
	if _, ok := s.GetValue("zero-ttl"); ok {
		t.Error("SetValue with ttl 0 stored something")
	}
}

// The store holds no more than MaxBytes, each entry weighed with its key,
// its bytes and its bookkeeping.
func TestBoundedByBytes(t *testing.T) {
	s, err := memstore.New(memstore.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 1000)
	for i := range 10_000 { // about 11 MB written
		s.Set(context.Background(), fmt.Sprint(i), value, time.Hour)
	}
	waitUntil(t, func() bool { return s.Bytes() <= 1<<20 })
	if n := s.Bytes(); n < 900<<10 {
		t.Errorf("%d bytes kept under a bound of 1 MiB; want the store nearly full, each entry weighed about 1,100 bytes", n)
	}
	if _, err := memstore.New(memstore.Options{MaxBytes: -1}); err == nil {
		t.Error("New with MaxBytes -1: no error")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1000 {
			t.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClosed(t *testing.T) {
	s := newStore(t)
	s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "k", nil, time.Hour); !errors.Is(err, memstore.ErrClosed) {
		t.Errorf("Set after Close = %v; want ErrClosed", err)
	}
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, memstore.ErrClosed) {
		t.Errorf("Get after Close = %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
