package httpapi

import (
	"testing"
	"unicode/utf8"
)

// checkUnicode takes UTF-8 with whole surrogate pairs, however the
// backslashes fall, and refuses anything else.
func TestCheckUnicodeRefusesWhatIsNotText(t *testing.T) {
	for body, ok := range map[string]bool{
		`{"k":"plain é \u00e9"}`:                  true,
		`{"k":"\ud83d\ude00"}`:                    true,
		`{"k":"\uD83D\uDE00 twice \uD83D\uDE00"}`: true,
		`{"k":"\\ud800"}`:                         true, // an escaped backslash, then text
		`{"k":"\\\ud83d\ude00"}`:                  true,
		`{"k":"\ud800"}`:                          false,
		`{"k":"\udc00"}`:                          false,
		`{"k":"\ud800\ud800"}`:                    false,
		`{"k":"\ud800\u0041"}`:                    false,
		`{"k":"\\\ud800"}`:                        false,
		`{"k":"\ud83d\ude00\udc00"}`:              false,
		`["\ud800`:                                false,
		"{\"k\":\"\xff\"}":                        false,
		"{\"k\":\"\xed\xa0\x80\"}":                false, // a surrogate in UTF-8: not UTF-8
	} {
		if err := checkUnicode([]byte(body)); (err == nil) != ok {
			t.Errorf("checkUnicode(%q) = %v; want ok=%v", body, err, ok)
		}
	}
}

// FuzzCheckUnicode: no input makes checkUnicode panic, and what it takes
// is UTF-8.
func FuzzCheckUnicode(f *testing.F) {
	for _, s := range []string{`{"k":"\ud83d\ude00"}`, `"\ud800`, `"\\\u`, `\u`, `\ud83d\u`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if checkUnicode(body) == nil && !utf8.Valid(body) {
			t.Errorf("checkUnicode(%q) took bytes that are not UTF-8", body)
		}
	})
}
