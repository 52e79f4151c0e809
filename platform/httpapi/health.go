package httpapi

import (
	"context"
	"net/http"
	"time"
)

// healthz says the process serves: it answers as long as it can answer.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is /readyz's report. The database must answer; the cache's
// state is reported but never makes the service unready.
type readiness struct {
	Status   string     `json:"status"`
	Database string     `json:"database"`
	Cache    cacheState `json:"cache"`
}

type cacheState struct {
	Store   string `json:"store"`
	Breaker string `json:"breaker,omitempty"`
	Ping    string `json:"ping,omitempty"`
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rep := readiness{Status: "ready", Database: "ok", Cache: cacheState{Store: s.StoreName}}
	status := http.StatusOK
	// Errors go to the log: their text (hosts, users, databases) is not
	// for the public.
	if err := s.DBPing(ctx); err != nil {
		s.Logger.Warn("readyz: database does not answer", "err", err)
		rep.Status, rep.Database, status = "unavailable", "unavailable", http.StatusServiceUnavailable
	}
	if c := s.Repo.Cache(); c != nil {
		rep.Cache.Breaker = string(c.Stats().Breaker)
	}
	if s.StorePing != nil {
		rep.Cache.Ping = "ok"
		if err := s.StorePing(ctx); err != nil {
			s.Logger.Warn("readyz: cache store does not answer", "err", err)
			rep.Cache.Ping = "unavailable"
		}
	}
	writeJSON(w, status, rep)
}
