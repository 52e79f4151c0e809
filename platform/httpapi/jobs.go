package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/aside-cache/aside/platform"
)

func (s *server) createJob(w http.ResponseWriter, r *http.Request) {
	by, err := s.actor(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in platform.NewJob
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	j, err := s.Repo.CreateJob(r.Context(), by, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.Repo.GetJobJSON(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, b)
}

func (s *server) updateJob(w http.ResponseWriter, r *http.Request) {
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
	var in platform.JobPatch
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	j, err := s.Repo.UpdateJob(r.Context(), by, id, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// putResult answers PUT /api/jobs/{id}/result with body {"result": <JSON>}:
// it stores the result and completes the job.
func (s *server) putResult(w http.ResponseWriter, r *http.Request) {
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
	var in struct {
		Result json.RawMessage `json:"result"`
	}
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.Repo.PutJobResult(r.Context(), by, id, in.Result)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

func (s *server) getResult(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.Repo.GetJobResultJSON(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeEncoded(w, b)
}
