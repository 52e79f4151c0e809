package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/redis/rueidis"
)

// baselineUser is the body the baselines serve: a user as aside-server
// returns one, so that bytes on the wire match.
var baselineUser = map[string]any{
	"id": 1, "openId": "demo-000001", "name": "Ada Lovelace", "email": "user1@example.com", "role": "user",
	"createdAt": "2026-11-10T20:07:49.567628Z", "updatedAt": "2026-11-10T20:07:49.567628Z", "lastSignedIn": nil,
}

// runBaseline serves the baselines the benchmarks compare aside with:
// GET /static answers fixed JSON; GET /redis/{id} answers the bytes of one
// rueidis GET (of baseline:user:<id>, filled at start for ids 1..-keys).
func runBaseline(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("baseline", stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	redisURL := fs.String("redis", getenv("REDIS_URL"), "Redis for /redis/{id} (default $REDIS_URL); empty: /static only")
	keys := fs.Int("keys", 1000, "ids to fill in Redis")
	if err := parse(fs, args); err != nil {
		return err
	}
	body, _ := json.Marshal(baselineUser)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	if *redisURL != "" {
		opt, err := rueidis.ParseURL(*redisURL)
		if err != nil {
			return err
		}
		opt.DisableCache = true
		client, err := rueidis.NewClient(opt)
		if err != nil {
			return err
		}
		defer client.Close()
		cmds := make(rueidis.Commands, 0, *keys)
		for id := 1; id <= *keys; id++ {
			cmds = append(cmds, client.B().Set().Key(fmt.Sprint("baseline:user:", id)).Value(string(body)).ExSeconds(3600).Build())
		}
		for _, r := range client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return err
			}
		}
		mux.HandleFunc("GET /redis/{id}", func(w http.ResponseWriter, r *http.Request) {
			b, err := client.Do(r.Context(), client.B().Get().Key("baseline:user:"+r.PathValue("id")).Build()).AsBytes()
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})
	}
	return serve(ctx, *addr, mux, stderr)
}

// serve serves h on addr until ctx ends.
func serve(ctx context.Context, addr string, h http.Handler, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stderr, "listening on %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
