// Package csrf refuses the changes a page on another site could make a
// browser send (cross-site request forgery): those from another site's
// Origin, and those whose body a page may send without asking the server
// first (a form, text/plain). The REST API and the monitor's mutations
// share it.
package csrf

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
)

// The two refusals, for the callers to answer in their own format.
var (
	ErrForeignOrigin = errors.New("a request from another site")
	ErrNotJSON       = errors.New("a body must be Content-Type: application/json")
)

// Check refuses r when its Origin is neither r's own host nor one of
// allowed (scheme://host[:port]), or when it has a body that is not
// application/json. A request with no Origin (curl, a server) is not a
// browser's on another site's behalf.
func Check(r *http.Request, allowed []string) error {
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || (u.Host != r.Host && !slices.Contains(allowed, origin)) {
			return fmt.Errorf("%w: %.100q", ErrForeignOrigin, origin)
		}
	}
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return nil // no body
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return ErrNotJSON
	}
	return nil
}
