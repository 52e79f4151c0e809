package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// secureHeaders sets the headers every answer carries, before the handler
// writes: X-Content-Type-Options: nosniff on all (a browser must not sniff
// a JSON error that echoes a path into HTML), and Cache-Control: no-store
// on /api/ and /trpc/, whose answers carry users, session tokens and the
// cache's figures, errors included (no shared cache or browser history
// should keep them). /healthz, /readyz and /metrics carry none of these
// and are left to the operator's proxies.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/trpc/") {
			h["Cache-Control"] = noStore
		}
		next.ServeHTTP(w, r)
	})
}

var (
	nosniff = []string{"nosniff"} // shared, never modified: no allocation per answer
	noStore = []string{"no-store"}
)

// maxEcho bounds what a log line or an error message quotes of a request
// (a path, a method, an id): the rest of a 60 KB path tells no one more.
const maxEcho = 256

// clip returns s cut to maxEcho bytes at a character's start, saying how
// long it was.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}
