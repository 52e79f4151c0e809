package aside

import (
	"bytes"
	"fmt"

	"github.com/maypok86/otter/v2"
)

// decodeMemo keeps, for the keys read most, the bytes last read from a
// remote store and what they decoded to, so that a hit whose bytes have
// not changed costs a comparison instead of a decoding: with 64 readers on
// two cores, decoding a 200-byte JSON struct costs more than the Redis
// round trip it follows. Freshness is untouched: every read still reads
// the store, and only bytes equal to the last ones skip the codec (the
// entry's times are in its bytes). Its entries are weighed by their bytes
// (twice: the bytes and the value), within Options.DecodeMemoBytes.
type decodeMemo struct {
	m *otter.Cache[string, memoized]
}

// memoized is one key's last bytes and their decoding, an *entry[T].
type memoized struct {
	data  []byte
	entry any
}

func newDecodeMemo(maxBytes int64) (*decodeMemo, error) {
	m, err := otter.New(&otter.Options[string, memoized]{
		MaximumWeight: uint64(maxBytes),
		Weigher: func(key string, v memoized) uint32 {
			return uint32(min(2*len(v.data)+len(key)+64, 1<<31))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("aside: decode memo: %w", err)
	}
	return &decodeMemo{m: m}, nil
}

// get returns the decoding memoized for full, if data are its bytes: an
// *entry[T] of the type that read them last. A nil memo has none.
func (d *decodeMemo) get(full string, data []byte) any {
	if d == nil {
		return nil
	}
	if m, ok := d.m.GetIfPresent(full); ok && bytes.Equal(m.data, data) {
		return m.entry
	}
	return nil
}

// put keeps data and their decoding e for full. data is the store's
// answer, which nothing modifies.
func (d *decodeMemo) put(full string, data []byte, e any) {
	if d != nil && data != nil {
		d.m.Set(full, memoized{data: data, entry: e})
	}
}
