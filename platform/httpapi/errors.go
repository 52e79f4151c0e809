package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/aside-cache/aside/platform"
)

// errorBody is every REST error: {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{errorDetail{Code: code, Message: message}})
}

// fail answers with the status err calls for. It is the one place that
// maps domain errors to HTTP: 400 invalid, 401 unauthorized, 403
// forbidden, 404 not found, 409 conflict, 413 too large, and 500 for the
// rest, whose details
// go to the log, not to the client.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", err.Error())
	case errors.Is(err, platform.ErrInvalid):
		writeError(w, http.StatusBadRequest, "BAD_REQUEST", clean(err, platform.ErrInvalid))
	case errors.Is(err, platform.ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="aside"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", clean(err, platform.ErrUnauthorized))
	case errors.Is(err, platform.ErrForbidden):
		writeError(w, http.StatusForbidden, "FORBIDDEN", clean(err, platform.ErrForbidden))
	case errors.Is(err, platform.ErrNotFound):
		writeError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
	case errors.Is(err, platform.ErrConflict):
		writeError(w, http.StatusConflict, "CONFLICT", err.Error())
	case r.Context().Err() != nil:
		// The client left: nobody reads the answer, and it is not our failure.
		s.Logger.Debug("httpapi: client gone", "method", clip(r.Method), "path", clip(r.URL.Path), "err", err)
		writeError(w, http.StatusServiceUnavailable, "CLIENT_GONE", "the request was cancelled")
	default:
		s.Logger.Error("httpapi: request failed", "method", clip(r.Method), "path", clip(r.URL.Path), "err", err)
		writeError(w, http.StatusInternalServerError, "INTERNAL", "internal error")
	}
}

// clean drops the sentinel's own words from the front of a message:
// "invalid: limit 0 is outside 1-100" reads "limit 0 is outside 1-100".
func clean(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", clip(r.Method)+" is not allowed on "+clip(r.URL.Path))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint: "+clip(r.URL.Path))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"INTERNAL","message":"encode response"}}`)
	}
	write(w, status, b)
}

// writeEncoded answers 200 with JSON already encoded (by the repository's
// JSON reads).
func writeEncoded(w http.ResponseWriter, b []byte) { write(w, http.StatusOK, b) }

func write(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	w.Write(b)
	w.Write(newline)
}

var (
	contentTypeJSON = []string{"application/json"} // shared, never modified: no allocation per response
	newline         = []byte{'\n'}
)
