package httpapi

import (
	"net/http"

	"github.com/aside-cache/aside/platform"
)

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	by, err := s.actor(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in platform.NewUser
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.Repo.CreateUser(r.Context(), by, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.Repo.GetUserJSON(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, b)
}

// userByOpenID answers GET /api/users?openId=...: the user with that open id.
func (s *server) userByOpenID(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("openId") || q.Get("openId") == "" {
		s.fail(w, r, invalid("openId is required: GET /api/users?openId=..."))
		return
	}
	b, err := s.Repo.GetUserByOpenIDJSON(r.Context(), q.Get("openId"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, b)
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by, err := s.actor(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in platform.UserPatch
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.Repo.UpdateUser(r.Context(), by, id, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by, err := s.actor(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Repo.DeleteUser(r.Context(), by, id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := limit(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.Repo.ListJobsByUserJSON(r.Context(), id, n)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, b)
}
