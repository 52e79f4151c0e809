package aside

import (
	"encoding"
	"encoding/json"
	"hash/fnv"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A value's shape is what a reader needs an entry to share with it before
// the entry is served: the structure of its type T and the namespace's
// Version. Every value entry carries the fingerprint of the shape it was
// written in, and a read of another shape finds nothing to serve: it loads
// and replaces the entry. So a deploy that changes T (a field renamed, a
// type changed) or the Version never serves what an older deploy cached,
// through GetOrSet's decoding or GetEncoded's bytes, and an invalidation
// from either deploy still reaches the one key both use.
//
// The fingerprint covers what a codec sees of T: kinds, exported field
// names and tags, element and key types, recursively. A type that codes
// itself (a MarshalJSON, UnmarshalJSON, MarshalText, UnmarshalText,
// MarshalBinary or UnmarshalBinary method; time.Time for one) counts by
// its name, as its encoding cannot be seen; Version covers a change in
// what such a method writes or reads.

// shapes memoizes the fingerprints of a Cache's types. A read through the
// key-based functions asks for one on every call, so the first few are
// found by a scan of an immutable list that compares type identities as
// pointers (a sync.Map lookup, which hashes the type, made a memstore hit
// half as slow again; comparing reflect.Types as interfaces, a tenth); a
// cache that reads more types than that finds the rest in a sync.Map.
type shapes struct {
	mu   sync.Mutex                   // serializes additions to list
	list atomic.Pointer[[]shapeEntry] // the first maxListedShapes, copied on write
	more sync.Map                     // shapeKey → uint64, past them
}

// maxListedShapes bounds the scan.
const maxListedShapes = 32

type shapeKey struct {
	typ     unsafe.Pointer // typeID
	version string
}

type shapeEntry struct {
	shapeKey
	fp uint64
}

// typeID is the identity of a type: the pointer a reflect.Type holds,
// which is one per type, so that two can be compared without calling into
// the runtime.
func typeID(t reflect.Type) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&t))[1]
}

// of returns the fingerprint of values of typ under version.
func (s *shapes) of(typ reflect.Type, version string) uint64 {
	id := typeID(typ)
	if l := s.list.Load(); l != nil {
		for i := range *l {
			if e := &(*l)[i]; e.typ == id && e.version == version {
				return e.fp
			}
		}
	}
	k := shapeKey{id, version}
	if fp, ok := s.more.Load(k); ok {
		return fp.(uint64)
	}
	fp := fingerprint(typ, version)
	s.add(k, fp)
	return fp
}

func (s *shapes) add(k shapeKey, fp uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var l []shapeEntry
	if p := s.list.Load(); p != nil {
		l = *p
	}
	if len(l) >= maxListedShapes {
		s.more.Store(k, fp)
		return
	}
	for _, e := range l {
		if e.shapeKey == k {
			return // added since the scan
		}
	}
	l = append(slices.Clip(l), shapeEntry{k, fp})
	s.list.Store(&l)
}

// fingerprint hashes version and the description of typ (FNV-1a, 64 bits).
func fingerprint(typ reflect.Type, version string) uint64 {
	var b strings.Builder
	b.WriteString(version)
	b.WriteByte(0)
	describe(&b, typ, map[reflect.Type]int{})
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	return h.Sum64()
}

// The interfaces by which a type codes itself: its encoding cannot be seen.
var selfCoding = []reflect.Type{
	reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.Unmarshaler](),
	reflect.TypeFor[encoding.TextMarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
	reflect.TypeFor[encoding.BinaryMarshaler](), reflect.TypeFor[encoding.BinaryUnmarshaler](),
}

// describe writes what a codec sees of t. seen numbers the named types
// being described, so that a recursive type ends in a back-reference.
func describe(b *strings.Builder, t reflect.Type, seen map[reflect.Type]int) {
	if t == nil {
		b.WriteString("nil")
		return
	}
	if t.Kind() == reflect.Pointer {
		b.WriteByte('*')
		describe(b, t.Elem(), seen)
		return
	}
	if marshals(t) {
		b.WriteString("M(" + t.PkgPath() + "." + t.Name() + ")")
		return
	}
	if i, ok := seen[t]; ok {
		b.WriteString("@" + strconv.Itoa(i))
		return
	}
	if t.Name() != "" {
		seen[t] = len(seen)
	}
	switch t.Kind() {
	case reflect.Slice:
		b.WriteString("[]")
		describe(b, t.Elem(), seen)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		describe(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		describe(b, t.Key(), seen)
		b.WriteByte(']')
		describe(b, t.Elem(), seen)
	case reflect.Struct:
		describeStruct(b, t, seen)
	default:
		b.WriteString(t.Kind().String())
	}
}

func describeStruct(b *strings.Builder, t reflect.Type, seen map[reflect.Type]int) {
	b.WriteString("struct{")
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue // no codec sees it
		}
		b.WriteString(f.Name)
		if f.Anonymous {
			b.WriteString(" embedded")
		}
		b.WriteString(" " + strconv.Quote(string(f.Tag)) + " ")
		describe(b, f.Type, seen)
		b.WriteByte(';')
	}
	b.WriteByte('}')
}

// marshals reports whether t (or *t) encodes or decodes itself.
func marshals(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false
	}
	p := reflect.PointerTo(t)
	for _, i := range selfCoding {
		if t.Implements(i) || p.Implements(i) {
			return true
		}
	}
	return false
}
