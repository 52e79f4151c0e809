package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxHeaderBytes bounds a request's line and headers. The API's longest
// are a URL with a tRPC batch's input and a bearer token, a few KB; the
// default (1 MiB) let one request's path carry 300,000 procedure names.
const maxHeaderBytes = 64 << 10

// A shutdown lets the requests in flight finish for shutdownGrace at most,
// then closes what is left. A client still sending (a body, headers) or
// holding a connection it sends nothing on gets shutdownReadGrace to send
// it: a client that trickles a body would otherwise hold the shutdown for
// the whole grace (and made the server exit 1).
const (
	shutdownGrace     = 10 * time.Second
	shutdownReadGrace = 2 * time.Second
)

// httpServer is the server's HTTP side: an http.Server with every read
// and write bounded in time and size, and the connections it has open, so
// that a shutdown can cut off the clients that would hold it.
type httpServer struct {
	srv *http.Server
	log *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]http.ConnState // guarded by mu: the open connections
	cutoff time.Time                   // guarded by mu: when reads must end, once a shutdown began
}

// newHTTPServer returns the server of handler: a slow or hostile client
// holds a connection for seconds, not for ever, and buys no more than
// maxHeaderBytes.
func newHTTPServer(log *slog.Logger, handler http.Handler) *httpServer {
	s := &httpServer{log: log, conns: make(map[net.Conn]http.ConnState)}
	s.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         s.track,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// track keeps the set of open connections. Once a shutdown began, each
// change of a connection's state sets its read deadline to the cutoff
// again: a connection accepted just as the listener closed, or a request
// whose reading set deadlines of its own, gets no more time than the rest.
func (s *httpServer) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
		return
	}
	s.conns[c] = state
	if !s.cutoff.IsZero() {
		c.SetReadDeadline(s.cutoff)
	}
}

// serve answers on ln until ctx ends, then shuts down.
func (s *httpServer) serve(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	if err := s.shutdown(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// shutdown stops taking connections, gives every open one
// shutdownReadGrace to finish what it is sending, waits for the requests
// in flight for shutdownGrace, and closes what is left, which is no
// failure: the server stopped as it was asked to.
func (s *httpServer) shutdown() error {
	s.cutReads(time.Now().Add(shutdownReadGrace))
	closing := time.AfterFunc(shutdownReadGrace, s.closeUnread)
	defer closing.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	s.log.Warn("shutdown: requests still running after the grace; closing their connections", "grace", shutdownGrace.String())
	return s.srv.Close()
}

// cutReads makes every read on the open connections, and on those yet to
// be tracked, end by deadline: a handler reading a body that does not come
// gets an error and returns, a connection that sends nothing is closed. A
// handler that is working, or writing, is not disturbed.
func (s *httpServer) cutReads(deadline time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutoff = deadline
	for c := range s.conns {
		c.SetReadDeadline(deadline)
	}
}

// closeUnread closes the connections that have not sent a whole request's
// headers: reading them sets a deadline of its own (ReadHeaderTimeout),
// which may come after the cutoff was set, and http.Server's Shutdown
// waits 5 s before it takes such a connection for idle. No request on them
// was read, so none is lost: the client may send it elsewhere.
func (s *httpServer) closeUnread() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, state := range s.conns {
		if state == http.StateNew {
			c.Close()
		}
	}
}
