// Package monitor serves a Cache's figures and its operator controls, at
// any prefix of any service: a live dashboard (NewHandler), the guide's
// tRPC procedures (monitoring.cacheStats, monitoring.cacheClear,
// monitoring.cacheClearPattern) in tRPC's HTTP wire format, so that a stock
// @trpc/client calls them unchanged (New), the figures as plain JSON
// (NewStatsHandler), and a Prometheus collector (NewCollector).
package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrorCode is a tRPC error code, with its JSON-RPC number and HTTP status.
type ErrorCode string

// The tRPC error codes this server answers with.
const (
	ParseError           ErrorCode = "PARSE_ERROR"
	BadRequest           ErrorCode = "BAD_REQUEST"
	Unauthorized         ErrorCode = "UNAUTHORIZED"
	Forbidden            ErrorCode = "FORBIDDEN"
	NotFound             ErrorCode = "NOT_FOUND"
	MethodNotSupported   ErrorCode = "METHOD_NOT_SUPPORTED"
	PayloadTooLarge      ErrorCode = "PAYLOAD_TOO_LARGE"
	UnsupportedMediaType ErrorCode = "UNSUPPORTED_MEDIA_TYPE"
	TooManyRequests      ErrorCode = "TOO_MANY_REQUESTS"
	InternalError        ErrorCode = "INTERNAL_SERVER_ERROR"
)

var codes = map[ErrorCode]struct{ rpc, http int }{
	ParseError:           {-32700, 400},
	BadRequest:           {-32600, 400},
	Unauthorized:         {-32001, 401},
	Forbidden:            {-32003, 403},
	NotFound:             {-32004, 404},
	MethodNotSupported:   {-32005, 405},
	PayloadTooLarge:      {-32013, 413},
	UnsupportedMediaType: {-32015, 415},
	TooManyRequests:      {-32029, 429},
	InternalError:        {-32603, 500},
}

// Error is a procedure's failure, sent in tRPC's error envelope.
type Error struct {
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// procedure is one tRPC procedure: a query (GET) or a mutation (POST).
type procedure struct {
	mutation bool
	call     func(r *http.Request, input json.RawMessage) (any, *Error)
}

// maxBody bounds a request body: inputs here are a pattern at most.
const maxBody = 64 << 10

// MaxBatch is the most procedures one call may name. A dashboard batches a
// few; nothing needs more, and each costs an answer of up to a few KB (a
// batch of 300,000 names once bought 38 MB of answer and 650 MB of heap).
const MaxBatch = 16

// MaxPathLen bounds the procedure names of one call, commas included: room
// for MaxBatch names of up to 63 bytes. A longer path is refused before
// its names are split.
const MaxPathLen = MaxBatch * 64

// router serves procedures in tRPC's HTTP wire format, at any prefix.
type router struct {
	procs map[string]procedure
	log   *slog.Logger

	getOnly atomic.Pointer[string] // the pattern it was found registered with, letting no POST through
	warning sync.Once
}

// ServeHTTP answers <prefix>/<path>[,<path>...][?batch=1&input=...]: the
// procedures are named by the last segment of the path, so that the
// router answers wherever it is mounted (/trpc/, /admin/trpc/), behind
// http.StripPrefix or not.
func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.noteMount(r)
	names := lastSegment(r.URL.Path)
	if e := checkBatchSize(names); e != nil {
		// One answer for the whole call, as tRPC's own maxBatchSize gives:
		// one per name would be the amplification the cap is there to stop.
		res := errorEnvelope("", e)
		writeJSON(w, res.status, res.body)
		return
	}
	paths := strings.Split(names, ",")
	batch := r.URL.Query().Get("batch") == "1" || r.URL.Query().Get("batch") == "true"
	if strings.Contains(r.Header.Get("trpc-accept"), "application/jsonl") {
		rt.fail(w, paths, batch, errorf(BadRequest, "streaming responses (httpBatchStreamLink) are not supported: use httpBatchLink or httpLink"))
		return
	}
	if !batch && len(paths) > 1 {
		rt.fail(w, paths, false, errorf(BadRequest, "%d procedures in one call need ?batch=1", len(paths)))
		return
	}
	inputs, perr := readInputs(r, len(paths), batch)
	if perr != nil {
		rt.fail(w, paths, batch, perr)
		return
	}
	results := make([]envelope, len(paths))
	for i, path := range paths {
		results[i] = rt.call(r, path, inputs[i])
	}
	if !batch {
		writeJSON(w, results[0].status, results[0].body)
		return
	}
	status := results[0].status
	bodies := make([]any, len(results))
	for i, res := range results {
		bodies[i] = res.body
		if res.status != status {
			status = http.StatusMultiStatus
		}
	}
	writeJSON(w, status, bodies)
}

// noteMount finds out whether the router was registered with a pattern
// that lets only GET through (r.Pattern, which http.ServeMux sets): the
// mutations cannot reach it, and the mux answers them 405 on its own. It
// says so once in the log, and the dashboard shows it.
func (rt *router) noteMount(r *http.Request) {
	method, _, ok := strings.Cut(r.Pattern, " ")
	if !ok || (method != http.MethodGet && method != http.MethodHead) {
		return
	}
	pattern := r.Pattern
	rt.getOnly.Store(&pattern)
	rt.warning.Do(func() {
		if rt.log != nil {
			rt.log.Warn("monitor: " + getOnlyReason(pattern))
		}
	})
}

// unreachable tells why the mutations cannot reach the router, or "".
func (rt *router) unreachable() string {
	if p := rt.getOnly.Load(); p != nil {
		return getOnlyReason(*p)
	}
	return ""
}

func getOnlyReason(pattern string) string {
	return fmt.Sprintf("the monitor is registered as %q, which lets no POST through: the clears cannot reach it; register it without a method", pattern)
}

// lastSegment returns what follows the last '/' of path, or all of it.
func lastSegment(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// checkBatchSize refuses a call that names more than MaxBatch procedures or
// whose names take more than MaxPathLen bytes, before the names are split:
// it costs a count of commas in at most MaxPathLen bytes.
func checkBatchSize(names string) *Error {
	if len(names) > MaxPathLen {
		return errorf(BadRequest, "the procedure names take %d bytes, more than %d", len(names), MaxPathLen)
	}
	if n := strings.Count(names, ",") + 1; n > MaxBatch {
		return errorf(BadRequest, "batch size limit of %d exceeded: %d procedures", MaxBatch, n)
	}
	return nil
}

// envelope is one procedure's answer: its HTTP status and its JSON body.
type envelope struct {
	status int
	body   any
}

func (rt *router) call(r *http.Request, path string, input json.RawMessage) envelope {
	p, ok := rt.procs[path]
	kind := "query"
	if r.Method == http.MethodPost {
		kind = "mutation"
	}
	switch {
	case !ok:
		return errorEnvelope(path, errorf(NotFound, "no %s-procedure on path %q", kind, path))
	case p.mutation && r.Method != http.MethodPost:
		return errorEnvelope(path, errorf(MethodNotSupported, "%s is a mutation: send it with POST", path))
	case !p.mutation && r.Method != http.MethodGet:
		return errorEnvelope(path, errorf(MethodNotSupported, "%s is a query: send it with GET", path))
	}
	data, err := p.call(r, input)
	if err != nil {
		return errorEnvelope(path, err)
	}
	return envelope{status: http.StatusOK, body: map[string]any{"result": map[string]any{"data": data}}}
}

func errorEnvelope(path string, e *Error) envelope {
	c, ok := codes[e.Code]
	if !ok {
		c = codes[InternalError]
	}
	data := map[string]any{"code": e.Code, "httpStatus": c.http}
	if path != "" {
		data["path"] = path
	}
	return envelope{status: c.http, body: map[string]any{"error": map[string]any{
		"message": e.Message,
		"code":    c.rpc,
		"data":    data,
	}}}
}

// fail answers every path of the call with the same error.
func (rt *router) fail(w http.ResponseWriter, paths []string, batch bool, e *Error) {
	if !batch {
		res := errorEnvelope(paths[0], e)
		writeJSON(w, res.status, res.body)
		return
	}
	bodies := make([]any, len(paths))
	var status int
	for i, p := range paths {
		res := errorEnvelope(p, e)
		bodies[i], status = res.body, res.status
	}
	writeJSON(w, status, bodies)
}

// readInputs returns the input of each of n procedures: from the query
// string's input for GET, the body for POST. A batch's input is an object
// keyed by index ("0", "1", ...); a missing index means no input.
func readInputs(r *http.Request, n int, batch bool) ([]json.RawMessage, *Error) {
	var raw []byte
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, errorf(PayloadTooLarge, "body is over %d bytes", maxBody)
		case err != nil:
			return nil, errorf(BadRequest, "read body: %v", err)
		}
		raw = body
	} else if q := r.URL.Query(); q.Has("input") {
		raw = []byte(q.Get("input"))
	}
	inputs := make([]json.RawMessage, n)
	if len(strings.TrimSpace(string(raw))) == 0 {
		return inputs, nil
	}
	if !json.Valid(raw) {
		return nil, errorf(ParseError, "input is not valid JSON")
	}
	if !batch {
		inputs[0] = raw
		return inputs, nil
	}
	var byIndex map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byIndex); err != nil {
		return nil, errorf(BadRequest, "a batch's input must be an object keyed by index")
	}
	for k, v := range byIndex {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= n {
			return nil, errorf(BadRequest, "batch input key %q is not the index of one of the %d procedures", k, n)
		}
		inputs[i] = v
	}
	return inputs, nil
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"encode response","code":-32603}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
