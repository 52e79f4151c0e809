package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aside-cache/aside/internal/csrf"
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
// against a request a page on another site could have sent (csrf.Check).
func (s *server) mutation(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch err := csrf.Check(r, s.AllowedOrigins); {
		case errors.Is(err, csrf.ErrForeignOrigin):
			s.fail(w, r, fmt.Errorf("%w: %v to this API (allow it with ASIDE_ALLOWED_ORIGINS)", platform.ErrForbidden, err))
		case err != nil:
			s.fail(w, r, invalid("%v", err))
		default:
			next(w, r)
		}
	}
}
