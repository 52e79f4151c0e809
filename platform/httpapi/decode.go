package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aside-cache/aside/monitor"
	"github.com/aside-cache/aside/platform"
)

// maxBody bounds every request body.
const maxBody = 256 << 10

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", platform.ErrInvalid, fmt.Sprintf(format, args...))
}

// decode reads one JSON value from the body into v: at most maxBody bytes,
// all of it Unicode, no unknown fields, nothing after it.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return invalid("reading the body: %v", err)
	}
	if err := checkUnicode(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return err
		case errors.Is(err, io.EOF):
			return invalid("the body is empty: want a JSON object")
		}
		return invalid("the body is not the JSON this endpoint takes: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return invalid("the body holds more than one JSON value")
	}
	return nil
}

// checkUnicode refuses a body that is not UTF-8, or that escapes half of a
// surrogate pair (\ud800 alone): no text, though JSON's grammar allows it.
// encoding/json would turn either into U+FFFD in a string field and keep it
// as it is in a raw one (a job's input, a result), where SQLite stores it
// and PostgreSQL fails: refused here, both databases answer alike.
func checkUnicode(body []byte) error {
	if !utf8.Valid(body) {
		return invalid("the body is not valid UTF-8")
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		i++ // the escaped character: a backslash escapes one, never two
		if i >= len(body) || body[i] != 'u' {
			continue
		}
		r, ok := hex4(body[i+1:])
		switch {
		case !ok || !utf16.IsSurrogate(r):
		case r < 0xdc00 && lowHalf(body[i+5:]):
			i += 10 // past the pair: XXXX\uYYYY
		default:
			return invalid("the body escapes half a surrogate pair (\\u%s): not Unicode text", body[i+1:i+5])
		}
	}
	return nil
}

// lowHalf reports whether b starts with the escape of a surrogate pair's
// low half, \udc00 to \udfff.
func lowHalf(b []byte) bool {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return false
	}
	r, ok := hex4(b[2:])
	return ok && r >= 0xdc00 && r <= 0xdfff
}

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 16)
	return rune(n), err == nil
}

// pathID reads the {id} of the path: a positive integer, in plain decimal.
func pathID(r *http.Request) (int64, error) {
	return parseID("id", r.PathValue("id"))
}

func parseID(name, s string) (int64, error) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" || s[0] == '0' {
		return 0, invalid("%s %q is not a positive integer", name, clip(s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, invalid("%s %q is not a positive integer", name, s)
	}
	return n, nil
}

// limit reads ?limit=N: 1 to MaxJobsLimit, DefaultJobsLimit when absent.
func limit(r *http.Request) (int, error) {
	q := r.URL.Query()
	if !q.Has("limit") {
		return platform.DefaultJobsLimit, nil
	}
	s := q.Get("limit")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > platform.MaxJobsLimit {
		return 0, invalid("limit %q is not an integer from 1 to %d", clip(s), platform.MaxJobsLimit)
	}
	return n, nil
}

// bearer reads the token of Authorization: Bearer <token>.
func bearer(r *http.Request) (string, error) {
	token, ok := monitor.BearerToken(r)
	if !ok {
		return "", fmt.Errorf("%w: send Authorization: Bearer <token> (POST /api/sessions gives one)", platform.ErrUnauthorized)
	}
	return token, nil
}
