package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"

	"github.com/aside-cache/aside/platform"
)

// actor returns who makes the request: the user its session token signs
// in (Authorization: Bearer), or, with authorization off, the system.
// Every mutation asks for one; the repository decides what it may change.
func (s *server) actor(r *http.Request) (platform.Actor, error) {
	if s.AuthOff {
		return platform.System, nil
	}
	token, err := bearer(r)
	if err != nil {
		return platform.Actor{}, err
	}
	return s.Repo.ActorOf(r.Context(), token)
}

// mutation guards a handler of the REST API that changes something
// against a request a page on another site could have sent (CSRF): one
// whose body is not application/json (a form, text/plain), or whose
// Origin is another site's. Requests with no Origin (curl, servers) go
// through.
func (s *server) mutation(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.sameSite(r); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := jsonBody(r); err != nil {
			s.fail(w, r, err)
			return
		}
		next(w, r)
	}
}

// sameSite refuses an Origin other than the server's own host and the
// allowed ones.
func (s *server) sameSite(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && (u.Host == r.Host || slices.Contains(s.AllowedOrigins, origin)) {
		return nil
	}
	return fmt.Errorf("%w: a request from %.100q to this API (allow it with ASIDE_ALLOWED_ORIGINS)", platform.ErrForbidden, origin)
}

// jsonBody refuses a body whose Content-Type is not application/json.
func jsonBody(r *http.Request) error {
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return nil // no body
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return invalid("a body must be Content-Type: application/json")
	}
	return nil
}
