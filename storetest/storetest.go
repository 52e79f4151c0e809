// Package storetest is the conformance suite for aside.Store
// implementations: every store aside ships passes it, and a store of your
// own should too.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) aside.Store { return newMyStore(t) })
//	}
//
// Each subtest works under keys of its own random prefix, so a store may be
// shared by all of them and hold other data.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aside-cache/aside"
)

// Run runs the suite. newStore returns the store a subtest uses; it may
// return the same store every time.
func Run(t *testing.T, newStore func(t *testing.T) aside.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s aside.Store, p string)
	}{
		{"GetSet", testGetSet},
		{"BinaryAndLargeValues", testBinaryAndLarge},
		{"TTL", testTTL},
		{"AddMany", testAddMany},
		{"AddOrGet", testAddOrGet},
		{"CompareAndSet", testCompareAndSet},
		{"Replace", testReplace},
		{"Delete", testDelete},
		{"ScanPattern", testScanPattern},
		{"ScanGlobSyntax", testScanGlobSyntax},
		{"ScanBatches", testScanBatches},
		{"Concurrent", testConcurrent},
		{"GetMulti", testGetMulti},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t), uniquePrefix(t))
		})
	}
}

func uniquePrefix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "storetest:" + hex.EncodeToString(b[:]) + ":"
}

const hour = time.Hour

func set(t *testing.T, s aside.Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func get(t *testing.T, s aside.Store, key string) (string, bool) {
	t.Helper()
	v, found, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v), found
}

func testGetSet(t *testing.T, s aside.Store, p string) {
	if v, found := get(t, s, p+"absent"); found {
		t.Errorf("Get(absent) = %q, true; want a miss", v)
	}
	set(t, s, p+"k", "v1", hour)
	if v, found := get(t, s, p+"k"); !found || v != "v1" {
		t.Errorf("Get(k) = %q, %v; want v1, true", v, found)
	}
	set(t, s, p+"k", "v2", hour)
	if v, _ := get(t, s, p+"k"); v != "v2" {
		t.Errorf("Get(k) after overwrite = %q; want v2", v)
	}
	set(t, s, p+"empty", "", hour)
	if v, found := get(t, s, p+"empty"); !found || v != "" {
		t.Errorf("Get(empty) = %q, %v; want \"\", true", v, found)
	}
}

func testBinaryAndLarge(t *testing.T, s aside.Store, p string) {
	binary := []byte{0, 1, 0xff, '\r', '\n', 0, 0x80}
	large := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for name, want := range map[string][]byte{"binary": binary, "large": large} {
		if err := s.Set(context.Background(), p+name, want, hour); err != nil {
			t.Fatalf("Set(%s): %v", name, err)
		}
		got, found, err := s.Get(context.Background(), p+name)
		if err != nil || !found || !bytes.Equal(got, want) {
			t.Errorf("Get(%s) = %d bytes, %v, %v; want the %d bytes set", name, len(got), found, err, len(want))
		}
	}
}

func testTTL(t *testing.T, s aside.Store, p string) {
	ctx := context.Background()
	set(t, s, p+"k", "v", 10*time.Second)
	ttl, found, err := s.TTL(ctx, p+"k")
	if err != nil || !found || ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Errorf("TTL(k) = %v, %v, %v; want in (9s, 10s]", ttl, found, err)
	}
	set(t, s, p+"k", "v", time.Minute) // an overwrite takes the new TTL
	if ttl, _, _ := s.TTL(ctx, p+"k"); ttl <= 59*time.Second {
		t.Errorf("TTL(k) after overwrite with 1m = %v; want above 59s", ttl)
	}
	if _, found, err := s.TTL(ctx, p+"absent"); err != nil || found {
		t.Errorf("TTL(absent): found = %v, err = %v; want not found", found, err)
	}
}

func testAddMany(t *testing.T, s aside.Store, p string) {
	ctx := context.Background()
	set(t, s, p+"present", "fresh", hour)
	items := []aside.Item{
		{Key: p + "a", Value: []byte("A"), TTL: hour},
		{Key: p + "present", Value: []byte("stale"), TTL: time.Minute},
		{Key: p + "b", Value: []byte("B"), TTL: 30 * time.Second},
	}
	added, err := s.AddMany(ctx, items)
	if err != nil || added != 2 {
		t.Fatalf("AddMany = %d, %v; want 2, nil", added, err)
	}
	for key, want := range map[string]string{"a": "A", "b": "B", "present": "fresh"} {
		if v, _ := get(t, s, p+key); v != want {
			t.Errorf("Get(%s) = %q; want %q", key, v, want)
		}
	}
	if ttl, _, _ := s.TTL(ctx, p+"b"); ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Errorf("TTL(b) = %v; want the item's 30s", ttl)
	}
	if ttl, _, _ := s.TTL(ctx, p+"present"); ttl <= 59*time.Minute {
		t.Errorf("TTL(present) = %v; AddMany must not touch a present key", ttl)
	}
	if added, err := s.AddMany(ctx, nil); err != nil || added != 0 {
		t.Errorf("AddMany(nil) = %d, %v; want 0, nil", added, err)
	}
}

func testAddOrGet(t *testing.T, s aside.Store, p string) {
	ctx := context.Background()
	cur, found, err := s.AddOrGet(ctx, p+"k", []byte("lease-1"), 20*time.Second)
	if err != nil || found || cur != nil {
		t.Fatalf("AddOrGet on an absent key = %q, %v, %v; want it stored", cur, found, err)
	}
	if ttl, _, _ := s.TTL(ctx, p+"k"); ttl <= 19*time.Second || ttl > 20*time.Second {
		t.Errorf("TTL after AddOrGet = %v; want 20s", ttl)
	}
	cur, found, err = s.AddOrGet(ctx, p+"k", []byte("lease-2"), time.Hour)
	if err != nil || !found || string(cur) != "lease-1" {
		t.Errorf("AddOrGet on a present key = %q, %v, %v; want lease-1, untouched", cur, found, err)
	}
	if v, _ := get(t, s, p+"k"); v != "lease-1" {
		t.Errorf("Get after a second AddOrGet = %q; want lease-1", v)
	}
}

func testCompareAndSet(t *testing.T, s aside.Store, p string) {
	ctx := context.Background()
	if ok, err := s.CompareAndSet(ctx, p+"absent", []byte("x"), []byte("y"), hour); err != nil || ok {
		t.Errorf("CompareAndSet on an absent key = %v, %v; want false", ok, err)
	}
	set(t, s, p+"k", "lease-1", time.Minute)
	if ok, err := s.CompareAndSet(ctx, p+"k", []byte("lease-2"), []byte("v"), hour); err != nil || ok {
		t.Errorf("CompareAndSet with the wrong old value = %v, %v; want false", ok, err)
	}
	if ok, err := s.CompareAndSet(ctx, p+"k", []byte("lease-1"), []byte("\x00value"), hour); err != nil || !ok {
		t.Fatalf("CompareAndSet with the right old value = %v, %v; want true", ok, err)
	}
	if v, _ := get(t, s, p+"k"); v != "\x00value" {
		t.Errorf("Get after CompareAndSet = %q", v)
	}
	if ttl, _, _ := s.TTL(ctx, p+"k"); ttl <= 59*time.Minute {
		t.Errorf("TTL after CompareAndSet = %v; want the new hour", ttl)
	}
	if ok, err := s.CompareAndDelete(ctx, p+"k", []byte("lease-1")); err != nil || ok {
		t.Errorf("CompareAndDelete with the wrong old value = %v, %v; want false", ok, err)
	}
	if ok, err := s.CompareAndDelete(ctx, p+"k", []byte("\x00value")); err != nil || !ok {
		t.Errorf("CompareAndDelete with the right old value = %v, %v; want true", ok, err)
	}
	if _, found := get(t, s, p+"k"); found {
		t.Error("the key survived CompareAndDelete")
	}
	// The race it exists for: a delete between the lease and the fill.
	set(t, s, p+"r", "lease-3", time.Minute)
	s.Delete(ctx, 1, p+"r")
	if ok, _ := s.CompareAndSet(ctx, p+"r", []byte("lease-3"), []byte("stale"), hour); ok {
		t.Error("CompareAndSet after the key was deleted wrote the stale value")
	}
}

func testReplace(t *testing.T, s aside.Store, p string) {
	ctx := context.Background()
	set(t, s, p+"a", "old-a", time.Hour)
	prior, err := s.Replace(ctx, []aside.Item{
		{Key: p + "a", Value: []byte("new-a"), TTL: 10 * time.Second},
		{Key: p + "b", Value: []byte("new-b"), TTL: 10 * time.Second},
	})
	if err != nil || len(prior) != 2 || string(prior[0]) != "old-a" || prior[1] != nil {
		t.Fatalf("Replace = %q, %v; want [old-a, nil]", prior, err)
	}
	for _, k := range []string{"a", "b"} {
		if v, _ := get(t, s, p+k); v != "new-"+k {
			t.Errorf("Get(%s) after Replace = %q", k, v)
		}
		if ttl, _, _ := s.TTL(ctx, p+k); ttl > 10*time.Second || ttl <= 9*time.Second {
			t.Errorf("TTL(%s) after Replace = %v; want the item's 10s", k, ttl)
		}
	}
}

func testDelete(t *testing.T, s aside.Store, p string) {
	ctx := context.Background()
	var keys []string
	for i := range 20 { // enough keys to land in many cluster slots
		k := fmt.Sprintf("%sk%d", p, i)
		set(t, s, k, fmt.Sprintf("value %d", i), hour)
		keys = append(keys, k)
	}
	prior, err := s.Delete(ctx, 3, append(keys, p+"absent")...)
	if err != nil || len(prior) != 21 {
		t.Fatalf("Delete(20 present, 1 absent) = %d heads, %v; want 21", len(prior), err)
	}
	for i, h := range prior[:20] {
		if string(h) != "val" {
			t.Errorf("Delete's head of %q = %q; want the first 3 bytes, %q", keys[i], h, "val")
		}
	}
	if prior[20] != nil {
		t.Errorf("Delete's head of an absent key = %q; want nil", prior[20])
	}
	for _, k := range keys {
		if _, found := get(t, s, k); found {
			t.Errorf("Get(%q) found after Delete", k)
		}
	}
	set(t, s, p+"short", "v", hour)
	if prior, err := s.Delete(ctx, 3, keys[0], p+"short"); err != nil || len(prior) != 2 || prior[0] != nil || string(prior[1]) != "v" {
		t.Errorf("Delete(deleted key, a 1-byte value) = %q, %v; want [nil, v]", prior, err)
	}
	if prior, err := s.Delete(ctx, 3); err != nil || len(prior) != 0 {
		t.Errorf("Delete() = %q, %v; want nothing", prior, err)
	}
}

// scanAll walks a whole Scan and returns the distinct keys it found.
func scanAll(t *testing.T, s aside.Store, pattern string, count int) []string {
	t.Helper()
	seen := map[string]bool{}
	cursor := ""
	for range 100_000 {
		keys, next, err := s.Scan(context.Background(), cursor, pattern, count)
		if err != nil {
			t.Fatalf("Scan(%q, %q): %v", cursor, pattern, err)
		}
		for _, k := range keys {
			seen[k] = true
		}
		if next == "" {
			out := make([]string, 0, len(seen))
			for k := range seen {
				out = append(out, k)
			}
			slices.Sort(out)
			return out
		}
		cursor = next
	}
	t.Fatalf("Scan(%q) did not end", pattern)
	return nil
}

func testScanPattern(t *testing.T, s aside.Store, p string) {
	var users []string
	for i := range 30 {
		k := fmt.Sprintf("%suser:%d", p, i)
		set(t, s, k, "u", hour)
		users = append(users, k)
	}
	set(t, s, p+"job:1", "j", hour)
	set(t, s, p+"userx", "not a user key", hour)
	slices.Sort(users)
	if got := scanAll(t, s, p+"user:*", 1000); !slices.Equal(got, users) {
		t.Errorf("Scan(user:*) = %d keys %q; want the %d user keys", len(got), got, len(users))
	}
	if got := scanAll(t, s, p+"nothing:*", 1000); len(got) != 0 {
		t.Errorf("Scan(nothing:*) = %q; want none", got)
	}
}

func testScanGlobSyntax(t *testing.T, s aside.Store, p string) {
	keys := []string{"a", "b", "c", "ab", "abc", "a*", "a?", "a[", "x-y", "é"}
	for _, k := range keys {
		set(t, s, p+k, "v", hour)
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"?", []string{"a", "b", "c"}},
		{"a*", []string{"a", "a*", "a?", "a[", "ab", "abc"}},
		{"a?", []string{"a*", "a?", "a[", "ab"}},
		{"a\\*", []string{"a*"}},
		{"a\\?", []string{"a?"}},
		{"a\\[", []string{"a["}},
		{"[ab]", []string{"a", "b"}},
		{"[^ab]", []string{"c"}},
		{"[a-b]", []string{"a", "b"}},
		{"[b-a]", []string{"a", "b"}}, // Redis swaps a reversed range
		{"a[b]*", []string{"ab", "abc"}},
		{"x-y", []string{"x-y"}},
		{"*c", []string{"abc", "c"}},
		{"é", []string{"é"}},
		{"*", keys},
	}
	for _, tt := range tests {
		want := make([]string, len(tt.want))
		for i, k := range tt.want {
			want[i] = p + k
		}
		slices.Sort(want)
		if got := scanAll(t, s, p+tt.pattern, 1000); !slices.Equal(got, want) {
			t.Errorf("Scan(%q) = %q; want %q", tt.pattern, got, want)
		}
	}
}

func testScanBatches(t *testing.T, s aside.Store, p string) {
	const n = 2500
	items := make([]aside.Item, n)
	for i := range items {
		items[i] = aside.Item{Key: fmt.Sprintf("%sk:%d", p, i), Value: []byte("v"), TTL: hour}
	}
	if added, err := s.AddMany(context.Background(), items); err != nil || added != n {
		t.Fatalf("AddMany(%d) = %d, %v", n, added, err)
	}
	if got := scanAll(t, s, p+"k:*", 100); len(got) != n {
		t.Errorf("Scan with count 100 found %d distinct keys; want %d", len(got), n)
	}
}

func testConcurrent(t *testing.T, s aside.Store, p string) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			ctx := context.Background()
			for i := range 50 {
				k := fmt.Sprintf("%sg%d:%d", p, g, i)
				want := fmt.Sprint(g * i)
				if err := s.Set(ctx, k, []byte(want), hour); err != nil {
					errs <- err
					return
				}
				got, found, err := s.Get(ctx, k)
				if err != nil || !found || string(got) != want {
					errs <- fmt.Errorf("Get(%q) = %q, %v, %v; want %q", k, got, found, err, want)
					return
				}
				if _, err := s.Delete(ctx, 1, k); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testGetMulti checks a MultiGetter (a store that is not one skips it):
// values in the order of the keys, nil for a key that holds nothing, a
// key asked twice answered twice.
func testGetMulti(t *testing.T, s aside.Store, p string) {
	mg, ok := s.(aside.MultiGetter)
	if !ok {
		t.Skipf("%T is not a MultiGetter", s)
	}
	ctx := context.Background()
	set(t, s, p+"a", "1", hour)
	set(t, s, p+"b", "\x00binary\xff", hour)
	keys := []string{p + "a", p + "missing", p + "b", p + "a"}
	got, err := mg.GetMulti(ctx, keys)
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	want := [][]byte{[]byte("1"), nil, []byte("\x00binary\xff"), []byte("1")}
	if len(got) != len(want) {
		t.Fatalf("GetMulti(%q) = %d values; want %d", keys, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
			t.Errorf("GetMulti(%q)[%d] = %q; want %q", keys, i, got[i], want[i])
		}
	}
	if got, err := mg.GetMulti(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMulti(nil) = %q, %v; want nothing", got, err)
	}
}
