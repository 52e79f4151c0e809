package aside

import (
	"reflect"
	"time"
	"unsafe"
)

// Weight returns the bytes an entry kept in process holds: the entry, the
// memory its value reaches (strings, slices, maps, pointers, walked once
// when the entry is kept), and the encoding GetEncoded keeps beside it. A
// store bounded by bytes (memstore) weighs entries with it. A claimed
// entry (being reloaded) weighs nothing, so that the store keeps it, like
// a lease, until the reload ends: another reader must not find the key
// empty and load it a second time.
func (e *entry[T]) Weight() int {
	if e.claimUntil != 0 {
		return 0 // a claim is kept whole until its reload ends (a lease's life at most)
	}
	w := e.size
	if e.enc != nil {
		if b := e.enc.Load(); b != nil {
			w += len(*b)
		}
	}
	return w
}

// weigh measures e's size: done once, before an in-process store keeps
// it, never after the entry is shared.
func (e *entry[T]) weigh() {
	if e.size == 0 {
		e.size = int(unsafe.Sizeof(*e)) + reached(reflect.ValueOf(&e.value).Elem(), map[uintptr]bool{})
	}
}

// locationType is skipped by reached: every time.Time points to one of a
// few shared *time.Location, which no entry owns.
var locationType = reflect.TypeFor[time.Location]()

// reached is the memory v reaches beyond its own inline bytes: string
// bytes, slice and map contents, what pointers and interfaces point to,
// each pointer, slice and map followed once (seen), so that a value which
// reaches itself is weighed and not walked until the stack overflows. Maps count their keys and values and
// a bucket's overhead per entry; it is an estimate, on the large side.
func reached(v reflect.Value, seen map[uintptr]bool) int {
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Slice:
		if v.IsNil() || seen[v.Pointer()] {
			return 0
		}
		seen[v.Pointer()] = true
		n := v.Cap() * int(v.Type().Elem().Size())
		if flat(v.Type().Elem()) {
			return n
		}
		for i := range v.Len() {
			n += reached(v.Index(i), seen)
		}
		return n
	case reflect.Map:
		if v.IsNil() || seen[v.Pointer()] {
			return 0 // a map that holds itself is counted once, not walked for ever
		}
		seen[v.Pointer()] = true
		n := 48 // the map header
		per := int(v.Type().Key().Size()+v.Type().Elem().Size()) + 16
		for it := v.MapRange(); it.Next(); {
			n += per + reached(it.Key(), seen) + reached(it.Value(), seen)
		}
		return n
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] || v.Type().Elem() == locationType {
			return 0
		}
		seen[v.Pointer()] = true
		return int(v.Type().Elem().Size()) + reached(v.Elem(), seen)
	case reflect.Interface:
		if v.IsNil() {
			return 0
		}
		inner := v.Elem()
		if inner.Kind() == reflect.Pointer {
			return reached(inner, seen)
		}
		return int(inner.Type().Size()) + reached(inner, seen) // boxed
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			n += reached(v.Field(i), seen)
		}
		return n
	case reflect.Array:
		n := 0
		if flat(v.Type().Elem()) {
			return 0
		}
		for i := range v.Len() {
			n += reached(v.Index(i), seen)
		}
		return n
	}
	return 0
}

// flat reports whether values of t reach no memory beyond their own bytes.
func flat(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return flat(t.Elem())
	}
	return false
}
