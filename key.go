package aside

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Key joins a namespace prefix and an id into a cache key, escaping the
// id so that no id can forge another key: an id may not contain the
// separator ':', glob syntax (* ? [ ] \), cluster hash-tag braces, '%',
// spaces or control bytes, so each of those is written as %XX. Integers
// are written in decimal; other values as fmt.Sprint writes them (a String
// method included), escaped. Key("user:", "1:x") is "user:1%3Ax", never a
// key of another namespace.
func Key(prefix string, id any) string {
	switch v := id.(type) {
	case string:
		return prefix + escapeID(v)
	case int:
		return prefix + strconv.Itoa(v)
	case int64:
		return prefix + strconv.FormatInt(v, 10)
	case int32:
		return prefix + strconv.FormatInt(int64(v), 10)
	case uint:
		return prefix + strconv.FormatUint(uint64(v), 10)
	case uint64:
		return prefix + strconv.FormatUint(v, 10)
	case uint32:
		return prefix + strconv.FormatUint(uint64(v), 10)
	case []byte:
		return prefix + escapeID(string(v))
	default:
		// fmt.Sprint calls a String method, and survives one that panics
		// on a nil pointer.
		return prefix + escapeID(fmt.Sprint(v))
	}
}

const hexDigits = "0123456789ABCDEF"

// needsEscape reports whether byte c of an id must be written as %XX.
func needsEscape(c byte) bool {
	switch c {
	case ':', '*', '?', '[', ']', '\\', '{', '}', '%', ' ':
		return true
	}
	return c < 0x20 || c == 0x7f
}

// MaxIDLen bounds an id as a key holds it. An id whose escaped form is
// longer is written as "%~" and the SHA-256 of the id in hex (66 bytes),
// so that no input can grow a key (a hostile open id, a negative entry per
// probe), and a hashed id never equals an escaped one: escapeID writes '%'
// only before two hex digits. A pattern delete matches hashed ids by the
// hash only.
const MaxIDLen = 128

// MaxKeyLen bounds a key given to the key-based functions, relative to
// the prefix: a longer one is refused (checkKey), as ids are hashed past
// MaxIDLen.
const MaxKeyLen = 1024

// checkKey refuses an empty key and one longer than MaxKeyLen.
func checkKey(key string) error {
	switch {
	case key == "":
		return invalid("empty key")
	case len(key) > MaxKeyLen:
		return invalid("key of %d bytes (%.32q...) is longer than MaxKeyLen (%d)", len(key), key, MaxKeyLen)
	}
	return nil
}

// escapeID percent-encodes the bytes of id that needsEscape names. Because
// '%' itself is escaped, the encoding is injective: two ids never share a
// key. An id longer than MaxIDLen escaped is hashed.
func escapeID(id string) string {
	if e := percentEncode(id); len(e) <= MaxIDLen {
		return e
	}
	sum := sha256.Sum256([]byte(id))
	return "%~" + hex.EncodeToString(sum[:])
}

// percentEncode writes the bytes of id that needsEscape names as %XX.
func percentEncode(id string) string {
	n := 0
	for i := 0; i < len(id); i++ {
		if needsEscape(id[i]) {
			n++
		}
	}
	if n == 0 {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 2*n)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unescapeID reverses escapeID for an id it did not hash. It reports false
// for text percentEncode cannot have written.
func unescapeID(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if needsEscape(s[i]) {
				return "", false
			}
		}
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if needsEscape(c) {
				return "", false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		decoded := byte(hi<<4 | lo)
		if !needsEscape(decoded) {
			return "", false
		}
		b.WriteByte(decoded)
		i += 2
	}
	return b.String(), true
}
