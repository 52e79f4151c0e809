package aside

import (
	"strings"
	"testing"
	"time"
)

// FuzzKey checks that id escaping is injective and that an escaped id holds
// nothing that could act as a separator, glob syntax or a hash tag.
func FuzzKey(f *testing.F) {
	for _, seed := range []string{"", "1", "1:result", "*", "a b", "50%", "%3A", "{x}", "é", "\x00\x7f", "[a-z]?\\",
		strings.Repeat("x", MaxIDLen), strings.Repeat("x", MaxIDLen+1), strings.Repeat(":", 43), "%~" + strings.Repeat("0", 64)} {
		f.Add(seed, "1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := Key("user:", a), Key("user:", b)
		if (ka == kb) != (a == b) {
			t.Fatalf("Key(%q) = %q and Key(%q) = %q: escaping is not injective", a, ka, b, kb)
		}
		escaped := strings.TrimPrefix(ka, "user:")
		if strings.ContainsAny(escaped, ":*?[]\\{} \x00\x7f") {
			t.Fatalf("Key(%q) = %q keeps a special byte", a, ka)
		}
		if len(escaped) > MaxIDLen {
			t.Fatalf("Key(%q) = %q: %d bytes of id, above MaxIDLen", a, ka, len(escaped))
		}
		if strings.HasPrefix(escaped, "%~") {
			return // hashed: injective but for SHA-256 collisions
		}
		back, ok := unescapeID(escaped)
		if !ok || back != a {
			t.Fatalf("unescapeID(%q) = %q, %v; want %q", escaped, back, ok, a)
		}
	})
}

type fuzzRow struct {
	ID   int64     `json:"id"`
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	Tags []string  `json:"tags"`
}

// FuzzDecodeEntry feeds arbitrary bytes to the envelope decoder: it must
// never panic, and what it accepts must encode back to an envelope that
// decodes to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	m := meta{freshUntil: 1700000000000, staleUntil: 1700000060000, refreshAfter: 1699999990000, loadMicros: 1234}
	good, _ := encodeEntry(JSON{}, &entry[fuzzRow]{kind: kindValue, value: fuzzRow{ID: 1, Name: "a", At: time.Unix(1, 2).UTC(), Tags: []string{"x"}}, meta: m})
	negative, _ := encodeEntry(JSON{}, &entry[fuzzRow]{kind: kindNotFound, meta: m})
	for _, seed := range [][]byte{good, negative, newLease(), nil, {envelopeMagic}, good[:headerLen],
		append(appendHeader(nil, kindValue, m), `{"id":`...), append([]byte{envelopeMagic, 1, 1, 0}, good[4:]...)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, m, _, _ := readHeader(data)
		e, err := decodeEntry[fuzzRow](JSON{}, data, m.shape)
		if err != nil {
			return
		}
		switch e.kind {
		case kindLease:
			if !isLease(data) {
				t.Fatalf("decoded %q as a lease, but isLease says no", data)
			}
			return
		case kindNotFound:
			if len(data) != headerLen {
				t.Fatalf("decoded %q as a negative entry", data)
			}
		}
		again, err := encodeEntry(JSON{}, &e)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", e, err)
		}
		e2, err := decodeEntry[fuzzRow](JSON{}, again, m.shape)
		if err != nil || e2.kind != e.kind || e2.meta != e.meta || e2.value.ID != e.value.ID ||
			e2.value.Name != e.value.Name || !e2.value.At.Equal(e.value.At) || len(e2.value.Tags) != len(e.value.Tags) {
			t.Fatalf("round trip of %+v gave %+v, %v", e, e2, err)
		}
		if e.kind == kindValue {
			s, err := decodeEntry[string](JSON{}, data, m.shape)
			if err != nil || s.value != string(data[headerLen:]) {
				t.Fatalf("decode as string = %q, %v; want the payload", s.value, err)
			}
		}
	})
}

// FuzzInspectEntry: InspectEntry reads any bytes without panicking.
func FuzzInspectEntry(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte{0xA5, 3, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		InspectEntry(data)
	})
}
