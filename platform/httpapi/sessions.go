package httpapi

import (
	"net/http"
	"time"
)

// createSession answers POST /api/sessions {"openId": "...", "password":
// "..."}: it signs the user in and returns the session's token, shown this
// once (Cache-Control: no-store, as every /api/ answer).
func (s *server) createSession(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OpenID   string `json:"openId"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	token, sess, err := s.Repo.NewSession(r.Context(), in.OpenID, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
	}{token, sess.ExpiresAt})
}

// getSession answers GET /api/session: the signed-in user.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	token, err := bearer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.Repo.SessionUser(r.Context(), token)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// deleteSession answers DELETE /api/session: it signs the session out.
func (s *server) deleteSession(w http.ResponseWriter, r *http.Request) {
	token, err := bearer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Repo.EndSession(r.Context(), token); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteSessions answers DELETE /api/sessions: it signs the session's
// user out everywhere.
func (s *server) deleteSessions(w http.ResponseWriter, r *http.Request) {
	token, err := bearer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by, err := s.Repo.ActorOf(r.Context(), token)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Repo.EndAllSessions(r.Context(), by); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
