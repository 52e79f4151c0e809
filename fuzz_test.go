package aside

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzKey checks that id escaping is injective and that an escaped id holds
// nothing that could act as a separator, glob syntax or a hash tag.
func FuzzKey(f *testing.F) {
	for _, seed := range []string{"", "1", "1:result", "*", "a b", "50%", "%3A", "{x}", "é", "\x00\x7f", "[a-z]?\\"} {
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
// decodes to the same value.
func FuzzDecodeEntry(f *testing.F) {
	good, _ := encodeValue(JSON{}, fuzzRow{ID: 1, Name: "a", At: time.Unix(1, 2).UTC(), Tags: []string{"x"}})
	for _, seed := range [][]byte{good, notFoundEnvelope, nil, {envelopeMagic}, {envelopeMagic, 1, 1},
		[]byte("\xa5\x01\x01{\"id\":"), []byte("\xa5\x02\x01{}"), []byte("\xa5\x01\x02x")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, k, err := decodeEntry[fuzzRow](JSON{}, data)
		if err != nil {
			return
		}
		if k == kindNotFound {
			if !bytes.Equal(data, notFoundEnvelope) {
				t.Fatalf("decoded %q as a negative entry", data)
			}
			return
		}
		again, err := encodeValue(JSON{}, v)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", v, err)
		}
		v2, _, err := decodeEntry[fuzzRow](JSON{}, again)
		if err != nil || v2.ID != v.ID || v2.Name != v.Name || !v2.At.Equal(v.At) || len(v2.Tags) != len(v.Tags) {
			t.Fatalf("round trip of %+v gave %+v, %v", v, v2, err)
		}
		s, _, err := decodeEntry[string](JSON{}, data)
		if err != nil || s != string(data[headerLen:]) {
			t.Fatalf("decode as string = %q, %v; want the payload", s, err)
		}
	})
}
