package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// secrets takes the configuration's secrets out of every error and log
// line of the server: the passwords of DATABASE_URL and REDIS_URL,
// REDIS_PASSWORD and ASIDE_ADMIN_TOKEN. The packages that parse URLs hide
// passwords they find where they expect them; a malformed URL is read
// otherwise (a password with an @ or a / in it becomes a host, a path, a
// database name) and its pieces turn up in errors, so each secret is
// taken out whole, decoded and encoded, and a URL's password also by each
// run of three or more letters and digits in it (which may blank a word
// of a log line that happens to be one of them: better than a leak),
// unless the URL shows it outside the password. A nil *secrets takes out
// nothing.
type secrets struct {
	words    []string // longest first
	replacer *strings.Replacer
}

// minPiece is the shortest run of a secret taken out on its own: shorter
// runs would blank unrelated words ("db", "1") all over the logs.
const minPiece = 3

// passwordParam finds a password given as a URL parameter (password=,
// sslpassword=), which pgx and libpq accept.
var passwordParam = regexp.MustCompile(`(?i)password=([^&#\s]*)`)

// readSecrets collects the secrets of the environment; nil when it holds
// none.
func readSecrets(getenv func(string) string) *secrets {
	var words []string
	for _, name := range []string{"DATABASE_URL", "REDIS_URL"} {
		raw := getenv(name)
		for _, pw := range urlPasswords(raw) {
			forms := variants(pw)
			words = append(words, shownElsewhere(append(forms, pieces(forms)...), raw, pw)...)
		}
	}
	// No parser cuts these: they are hidden whole.
	for _, name := range []string{"REDIS_PASSWORD", "ASIDE_ADMIN_TOKEN"} {
		words = append(words, variants(getenv(name))...)
	}
	if len(words) == 0 {
		return nil
	}
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	words = slices.Compact(words)
	pairs := make([]string, 0, 2*len(words))
	for _, w := range words {
		pairs = append(pairs, w, "[redacted]")
	}
	return &secrets{words: words, replacer: strings.NewReplacer(pairs...)}
}

// urlPasswords returns what may be a password in raw: everything between
// the first colon after "://" and the last @ (as the writer of a URL with
// an unescaped @, / or # in the password meant it, whatever a parser
// makes of it), and the values of password parameters.
func urlPasswords(raw string) []string {
	var pws []string
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				pws = append(pws, pw)
			}
		}
	}
	for _, m := range passwordParam.FindAllStringSubmatch(raw, -1) {
		pws = append(pws, m[1])
	}
	return pws
}

// shownElsewhere drops the words that the URL raw holds outside its
// password pw: its scheme, user, host, database and parameters are logged
// by design (postgres://postgres:postgres@... would otherwise blank every
// "postgres" of the logs), and a piece of the password that is one of them
// is shown by them whatever is hidden.
func shownElsewhere(words []string, raw, pw string) []string {
	outside := strings.Replace(raw, pw, " ", 1)
	return slices.DeleteFunc(words, func(w string) bool { return strings.Contains(outside, w) })
}

// variants returns secret as it may be shown: as it is, decoded and
// encoded.
func variants(secret string) []string {
	if secret == "" {
		return nil
	}
	forms := []string{secret, url.PathEscape(secret), url.QueryEscape(secret)}
	for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
		if s, err := unescape(secret); err == nil {
			forms = append(forms, s, url.PathEscape(s), url.QueryEscape(s))
		}
	}
	return forms
}

// pieces returns the runs of minPiece or more letters and digits in forms:
// what a parser quotes of a password it misreads.
func pieces(forms []string) []string {
	var runs []string
	for _, f := range forms {
		for _, run := range strings.FieldsFunc(f, notAlnum) {
			if len(run) >= minPiece {
				runs = append(runs, run)
			}
		}
	}
	return runs
}

func notAlnum(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// redact returns text without the secrets.
func (s *secrets) redact(text string) string {
	if s == nil {
		return text
	}
	return s.replacer.Replace(text)
}

// redactError returns err with the secrets taken out of its text; errors.Is
// and errors.As still see the error it wraps.
func (s *secrets) redactError(err error) error {
	if s == nil || err == nil {
		return err
	}
	if text := s.redact(err.Error()); text != err.Error() {
		return &redactedError{text: text, err: err}
	}
	return err
}

type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// handler returns next with the secrets taken out of every message and
// attribute; next itself without secrets to hide.
func (s *secrets) handler(next slog.Handler) slog.Handler {
	if s == nil {
		return next
	}
	return &redactHandler{next: next, secrets: s}
}

// redactHandler is an slog.Handler that hides the secrets.
type redactHandler struct {
	next    slog.Handler
	secrets *secrets
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.secrets.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(clean), secrets: h.secrets}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

// attr returns a without the secrets: strings and groups redacted, any
// other value (an error, a slice) by its text, replaced only when it held
// a secret.
func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.secrets.redact(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = h.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		text := fmt.Sprint(v.Any())
		if clean := h.secrets.redact(text); clean != text {
			return slog.String(a.Key, clean)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
