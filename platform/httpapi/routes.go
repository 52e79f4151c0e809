package httpapi

import "net/http"

// routes registers every endpoint. A path's other methods get a JSON 405
// from the method-less pattern beside it (the more specific pattern wins),
// and unknown paths a JSON 404.
func (s *server) routes(mux *http.ServeMux, monitor, metrics http.Handler) {
	// Every change goes through s.mutation (CSRF) and asks for s.actor.
	mux.HandleFunc("POST /api/users", s.mutation(s.createUser))
	mux.HandleFunc("GET /api/users", s.userByOpenID)
	mux.HandleFunc("/api/users", methodNotAllowed)
	mux.HandleFunc("GET /api/users/{id}", s.getUser)
	mux.HandleFunc("PATCH /api/users/{id}", s.mutation(s.updateUser))
	mux.HandleFunc("DELETE /api/users/{id}", s.mutation(s.deleteUser))
	mux.HandleFunc("/api/users/{id}", methodNotAllowed)
	mux.HandleFunc("GET /api/users/{id}/jobs", s.listJobs)
	mux.HandleFunc("/api/users/{id}/jobs", methodNotAllowed)

	mux.HandleFunc("POST /api/jobs", s.mutation(s.createJob))
	mux.HandleFunc("/api/jobs", methodNotAllowed)
	mux.HandleFunc("GET /api/jobs/{id}", s.getJob)
	mux.HandleFunc("PATCH /api/jobs/{id}", s.mutation(s.updateJob))
	mux.HandleFunc("/api/jobs/{id}", methodNotAllowed)
	mux.HandleFunc("PUT /api/jobs/{id}/result", s.mutation(s.putResult))
	mux.HandleFunc("GET /api/jobs/{id}/result", s.getResult)
	mux.HandleFunc("/api/jobs/{id}/result", methodNotAllowed)

	mux.HandleFunc("POST /api/sessions", s.mutation(s.createSession))
	mux.HandleFunc("DELETE /api/sessions", s.mutation(s.deleteSessions))
	mux.HandleFunc("/api/sessions", methodNotAllowed)
	mux.HandleFunc("GET /api/session", s.getSession)
	mux.HandleFunc("DELETE /api/session", s.mutation(s.deleteSession))
	mux.HandleFunc("/api/session", methodNotAllowed)

	// The monitor answers its own methods: the dashboard and the figures
	// GET, the tRPC mutations POST.
	mux.Handle("/trpc/", monitor)
	mux.Handle("/{$}", monitor)
	mux.Handle("/dashboard/", monitor)
	mux.Handle("/stats", monitor)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/", notFound)
}
