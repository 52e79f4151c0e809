package aside_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

// doc is a value that holds most of its memory through pointers: a
// slice of structs of strings.
type doc struct {
	ID    int
	Parts []part
}

type part struct {
	Name, Body string
}

// A memstore bounded by bytes holds what it says through a Cache, however
// the memory hides in the values: 200 strings and 200 documents of 256 KiB
// each (100 MiB), each also read encoded (another 100 MiB), leave the heap
// less than three times the 8 MiB bound larger.
func TestMemstoreBoundHoldsThroughTheCache(t *testing.T) {
	const bound = 8 << 20
	s, err := memstore.New(memstore.Options{MaxBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	c, ctx := newCache(t, s, aside.Options{}), context.Background()
	before := heapAlloc()
	for i := range 200 {
		text := func(context.Context) (string, error) { return fmt.Sprint(i) + strings.Repeat("x", 256<<10), nil }
		if _, err := aside.GetOrSetEncoded(ctx, c, fmt.Sprint("text:", i), time.Hour, text); err != nil {
			t.Fatal(err)
		}
		aside.GetOrSetEncoded(ctx, c, fmt.Sprint("text:", i), time.Hour, text) // a hit: keeps the encoding
		parts := func(context.Context) (doc, error) {
			d := doc{ID: i}
			for j := range 64 {
				d.Parts = append(d.Parts, part{Name: fmt.Sprint("part ", j), Body: strings.Repeat("y", 4<<10)})
			}
			return d, nil
		}
		aside.GetOrSetEncoded(ctx, c, fmt.Sprint("doc:", i), time.Hour, parts)
		aside.GetOrSetEncoded(ctx, c, fmt.Sprint("doc:", i), time.Hour, parts)
	}
	waitFor(t, "the store to evict down to its bound", func() bool { return s.Bytes() <= bound })
	if grown := heapAlloc() - before; grown > 3*bound {
		t.Errorf("the heap grew by %d MiB for a store bounded to %d MiB; want under %d MiB", grown>>20, bound>>20, 3*bound>>20)
	}
}

func heapAlloc() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// loop is a value that can reach itself through a pointer.
type loop struct {
	Name string
	Next *loop
}

// Values that reach themselves (a map holding itself, a slice holding
// itself, a pointer cycle) are weighed once each and kept: the weighing
// walk followed a map into itself until the stack overflowed, a fatal
// error that killed the process on the first GetOrSet.
func TestValuesThatReachThemselvesAreKept(t *testing.T) {
	c, ctx := newCache(t, newMemstore(t), aside.Options{}), context.Background()
	cycles := map[string]func() any{
		"map": func() any {
			m := map[string]any{"x": "y"}
			m["self"] = m
			return m
		},
		"slice": func() any {
			s := make([]any, 2)
			s[0] = s
			return s
		},
		"pointer": func() any {
			l := &loop{Name: "a"}
			l.Next = l
			return l
		},
		"map in a slice in a map": func() any {
			m := map[string]any{}
			m["list"] = []any{1, map[string]any{"outer": m}}
			return m
		},
	}
	for name, value := range cycles {
		loads := 0
		load := func(context.Context) (any, error) { loads++; return value(), nil }
		for range 2 {
			if _, err := aside.GetOrSet(ctx, c, "cycle:"+name, time.Hour, load); err != nil {
				t.Errorf("%s: GetOrSet = %v", name, err)
			}
		}
		if loads != 1 {
			t.Errorf("%s: %d loads for two reads; want 1 (kept)", name, loads)
		}
	}
}
