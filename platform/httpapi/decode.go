package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aside-cache/aside/monitor"
	"github.com/aside-cache/aside/platform"
)

// maxBody bounds every request body.
const maxBody = 256 << 10

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", platform.ErrInvalid, fmt.Sprintf(format, args...))
}

// decode reads one JSON value from the body into v: at most maxBody bytes,
// no unknown fields, nothing after it.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
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

// pathID reads the {id} of the path: a positive integer, in plain decimal.
func pathID(r *http.Request) (int64, error) {
	return parseID("id", r.PathValue("id"))
}

func parseID(name, s string) (int64, error) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" || s[0] == '0' {
		return 0, invalid("%s %q is not a positive integer", name, s)
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
		return 0, invalid("limit %q is not an integer from 1 to %d", s, platform.MaxJobsLimit)
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
