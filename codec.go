package aside

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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

// The envelope around every value kept in bytes:
//
//	byte 0  envelopeMagic
//	byte 1  envelopeVersion
//	byte 2  kind (kindValue or kindNotFound)
//	rest    the payload: the codec's bytes, or nothing for kindNotFound
//
// The version lets a later format be introduced without misreading old
// entries: bytes of an unknown version are a miss and get refilled.
const (
	envelopeMagic   = 0xA5
	envelopeVersion = 1
	headerLen       = 3
)

type kind byte

const (
	kindValue    kind = 1
	kindNotFound kind = 2
	// kindLease marks a key a loader is filling: its payload is the
	// lease's token. A read sees a miss; only the lease's holder can
	// replace it (CompareAndSet), and an invalidation deletes it.
	kindLease kind = 3
)

// leaseTokenLen is the length of a lease's token.
const leaseTokenLen = 8

var errCorrupt = errors.New("aside: corrupt entry")

// encodeValue wraps v in a value envelope.
func encodeValue[T any](codec Codec, v T) ([]byte, error) {
	header := [headerLen]byte{envelopeMagic, envelopeVersion, byte(kindValue)}
	switch any((*T)(nil)).(type) {
	case *string:
		return append(header[:], *(*string)(unsafe.Pointer(&v))...), nil
	case *[]byte:
		return append(header[:], *(*[]byte)(unsafe.Pointer(&v))...), nil
	}
	payload, err := codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("aside: encode %T: %w", v, err)
	}
	return append(header[:], payload...), nil
}

// notFoundEnvelope is the whole encoding of a negative entry.
var notFoundEnvelope = []byte{envelopeMagic, envelopeVersion, byte(kindNotFound)}

// decodeEntry reads an envelope. Bytes that are not an envelope of this
// version, or whose payload the codec refuses, give an error wrapping
// errCorrupt; decodeEntry never panics on any input.
func decodeEntry[T any](codec Codec, data []byte) (v T, k kind, err error) {
	if len(data) < headerLen || data[0] != envelopeMagic {
		return v, 0, fmt.Errorf("%w: not an aside envelope", errCorrupt)
	}
	if data[1] != envelopeVersion {
		return v, 0, fmt.Errorf("%w: envelope version %d, want %d", errCorrupt, data[1], envelopeVersion)
	}
	payload := data[headerLen:]
	switch k = kind(data[2]); k {
	case kindNotFound:
		if len(payload) != 0 {
			return v, 0, fmt.Errorf("%w: negative entry with a payload", errCorrupt)
		}
		return v, k, nil
	case kindLease:
		if len(payload) != leaseTokenLen {
			return v, 0, fmt.Errorf("%w: lease of %d bytes", errCorrupt, len(payload))
		}
		return v, k, nil
	case kindValue:
	default:
		return v, 0, fmt.Errorf("%w: unknown kind %d", errCorrupt, k)
	}
	// The type switch on a nil *T costs no allocation, and the casts are
	// sound because it has just named T; taking &v for the switch instead
	// would move v to the heap on every hit.
	switch any((*T)(nil)).(type) {
	case *string:
		s := string(payload)
		return *(*T)(unsafe.Pointer(&s)), k, nil
	case *[]byte:
		b := append([]byte{}, payload...)
		return *(*T)(unsafe.Pointer(&b)), k, nil
	}
	p := new(T)
	if err := codec.Unmarshal(payload, p); err != nil {
		return v, 0, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return *p, k, nil
}

// newLease returns a lease envelope with a random token.
func newLease() []byte {
	b := make([]byte, headerLen+leaseTokenLen)
	b[0], b[1], b[2] = envelopeMagic, envelopeVersion, byte(kindLease)
	binary.LittleEndian.PutUint64(b[headerLen:], rand.Uint64())
	return b
}

// localEntry is what a ValueStore keeps: the decoded value, no bytes.
type localEntry[T any] struct {
	kind  kind
	value T
}

// localLease is a lease in a ValueStore: each is a distinct pointer, so
// comparing two is comparing their identity.
type localLease struct{ _ byte }

// reencoder is a localEntry seen without its type parameter: a reader of
// another type decodes it through the codec, as it would from Redis.
type reencoder interface {
	reencode(codec Codec) ([]byte, error)
}

func (e localEntry[T]) reencode(codec Codec) ([]byte, error) {
	if e.kind == kindNotFound {
		return notFoundEnvelope, nil
	}
	return encodeValue(codec, e.value)
}
