package aside

import (
	"encoding/json"
	"fmt"
	"unsafe"
)

// Codec turns values into bytes for a store outside the process and back.
// The default is JSON. A Codec must be safe for concurrent use.
//
// Values of type string and []byte skip the codec: they are stored as they
// are, so that caching text or pre-encoded bytes costs no encoding.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// JSON is the default Codec: encoding/json. time.Time round-trips to the
// nanosecond (its zone becomes a fixed offset, so compare with Equal).
type JSON struct{}

// Marshal encodes v as JSON.
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON into v.
func (JSON) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// encodeValue encodes v, appending to dst.
func encodeValue[T any](codec Codec, dst []byte, v T) ([]byte, error) {
	switch any((*T)(nil)).(type) {
	case *string:
		return append(dst, *(*string)(unsafe.Pointer(&v))...), nil
	case *[]byte:
		return append(dst, *(*[]byte)(unsafe.Pointer(&v))...), nil
	}
	payload, err := marshal(codec, v)
	if err != nil {
		return nil, fmt.Errorf("aside: encode %T: %w", v, err)
	}
	return append(dst, payload...), nil
}

// marshal is the codec's Marshal, a panic in it (a MarshalJSON of the
// value's) turned into an error: it may run on a goroutine of aside's,
// where a panic would end the process.
func marshal(codec Codec, v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("aside: codec panicked: %v", r)
		}
	}()
	return codec.Marshal(v)
}

// unmarshal is the codec's Unmarshal, a panic in it turned into an error.
func unmarshal(codec Codec, data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("aside: codec panicked: %v", r)
		}
	}()
	return codec.Unmarshal(data, v)
}

// decodeValue decodes a payload as T.
func decodeValue[T any](codec Codec, payload []byte) (T, error) {
	// The type switch on a nil *T costs no allocation, and the casts are
	// sound because it has just named T; taking the address of a local T
	// for the switch instead would move it to the heap on every hit.
	switch any((*T)(nil)).(type) {
	case *string:
		s := string(payload)
		return *(*T)(unsafe.Pointer(&s)), nil
	case *[]byte:
		b := append([]byte{}, payload...)
		return *(*T)(unsafe.Pointer(&b)), nil
	}
	p := new(T)
	if err := unmarshal(codec, payload, p); err != nil {
		return *p, err
	}
	return *p, nil
}
