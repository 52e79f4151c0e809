package platform_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
	"github.com/aside-cache/aside/platform"
	"github.com/aside-cache/aside/redisstore"
	"github.com/aside-cache/aside/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// otherCodec is JSON under another type: the repository cannot know that
// its bytes are the API's, so it must not pass them through.
type otherCodec struct{ aside.JSON }

// The JSON reads answer with exactly what encoding the typed reads gives,
// on a miss and on a hit, on every store, with and without pass-through;
// and they show writes as the typed reads do.
func TestJSONReadsMatchTheTypedReads(t *testing.T) {
	configs := map[string]func(t *testing.T) (aside.Store, aside.Options){
		"uncached": func(t *testing.T) (aside.Store, aside.Options) { return nil, aside.Options{} },
		"memstore": func(t *testing.T) (aside.Store, aside.Options) {
			s, _ := memstore.New(memstore.Options{})
			return s, aside.Options{}
		},
		"redis": func(t *testing.T) (aside.Store, aside.Options) {
			s, err := redisstore.New(redisstore.Options{Addrs: []string{redistest.Shared(t).Addr}})
			if err != nil {
				t.Fatal(err)
			}
			return s, aside.Options{KeyPrefix: fmt.Sprintf("jr%d:", time.Now().UnixNano())}
		},
		"redis, another codec": func(t *testing.T) (aside.Store, aside.Options) {
			s, err := redisstore.New(redisstore.Options{Addrs: []string{redistest.Shared(t).Addr}})
			if err != nil {
				t.Fatal(err)
			}
			return s, aside.Options{KeyPrefix: fmt.Sprintf("jc%d:", time.Now().UnixNano()), Codec: otherCodec{}}
		},
	}
	for name, config := range configs {
		t.Run(name, func(t *testing.T) {
			store, opts := config(t)
			r, _ := newRepoOn(t, store, opts)
			ctx := context.Background()
			u, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "json-1", Name: "Ada", Email: "ada@example.com", Password: testPassword})
			if err != nil {
				t.Fatal(err)
			}
			idle, err := r.CreateUser(ctx, platform.System, platform.NewUser{OpenID: "json-2", Password: testPassword})
			if err != nil {
				t.Fatal(err)
			}
			j, err := r.CreateJob(ctx, platform.System, platform.NewJob{UserID: u.ID, Type: "render", Input: json.RawMessage(`{"frames": [1, 2]}`)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.PutJobResult(ctx, platform.System, j.ID, json.RawMessage(`{"ok":true}`)); err != nil {
				t.Fatal(err)
			}
			running, err := r.CreateJob(ctx, platform.System, platform.NewJob{UserID: u.ID, Type: "encode"})
			if err != nil {
				t.Fatal(err)
			}
			reads := []struct {
				name  string
				json  func() ([]byte, error)
				typed func() (any, error)
			}{
				{"user", func() ([]byte, error) { return r.GetUserJSON(ctx, u.ID) }, func() (any, error) { return r.GetUser(ctx, u.ID) }},
				{"user by open id", func() ([]byte, error) { return r.GetUserByOpenIDJSON(ctx, "json-1") }, func() (any, error) { return r.GetUserByOpenID(ctx, "json-1") }},
				{"job", func() ([]byte, error) { return r.GetJobJSON(ctx, j.ID) }, func() (any, error) { return r.GetJob(ctx, j.ID) }},
				{"running job", func() ([]byte, error) { return r.GetJobJSON(ctx, running.ID) }, func() (any, error) { return r.GetJob(ctx, running.ID) }},
				{"result", func() ([]byte, error) { return r.GetJobResultJSON(ctx, j.ID) }, func() (any, error) { return r.GetJobResult(ctx, j.ID) }},
				{"jobs list", func() ([]byte, error) { return r.ListJobsByUserJSON(ctx, u.ID, 10) }, func() (any, error) { return r.ListJobsByUser(ctx, u.ID, 10) }},
			}
			check := func(when string) {
				t.Helper()
				for _, rd := range reads {
					for pass := range 2 { // a miss, then a hit
						got, err := rd.json()
						v, terr := rd.typed()
						want, _ := json.Marshal(v)
						if err != nil || terr != nil || string(got) != string(want) {
							t.Errorf("%s: %s JSON read #%d = %s, %v; want %s (%v)", when, rd.name, pass, got, err, want, terr)
						}
					}
				}
			}
			check("after the creates")
			name := "Ada Lovelace"
			if _, err := r.UpdateUser(ctx, platform.System, u.ID, platform.UserPatch{Name: &name}); err != nil {
				t.Fatal(err)
			}
			progress := 50
			if _, err := r.UpdateJob(ctx, platform.System, running.ID, platform.JobPatch{Progress: &progress}); err != nil {
				t.Fatal(err)
			}
			check("after the updates")
			if b, err := r.GetUserJSON(ctx, u.ID); err != nil || !json.Valid(b) || !strings.Contains(string(b), name) {
				t.Errorf("user after the rename = %s, %v; want the new name", b, err)
			}

			if b, err := r.ListJobsByUserJSON(ctx, idle.ID, 10); err != nil || string(b) != "[]" {
				t.Errorf("jobs of a user with none = %s, %v; want []", b, err)
			}
			for what, read := range map[string]func() ([]byte, error){
				"user":      func() ([]byte, error) { return r.GetUserJSON(ctx, 999) },
				"open id":   func() ([]byte, error) { return r.GetUserByOpenIDJSON(ctx, "nobody") },
				"job":       func() ([]byte, error) { return r.GetJobJSON(ctx, 999) },
				"result":    func() ([]byte, error) { return r.GetJobResultJSON(ctx, 999) },
				"jobs list": func() ([]byte, error) { return r.ListJobsByUserJSON(ctx, 999, 10) },
			} {
				if b, err := read(); !errors.Is(err, platform.ErrNotFound) || b != nil {
					t.Errorf("%s that does not exist = %s, %v; want ErrNotFound", what, b, err)
				}
			}
			if _, err := r.ListJobsByUserJSON(ctx, u.ID, 0); !errors.Is(err, platform.ErrInvalid) {
				t.Errorf("limit 0 = %v; want ErrInvalid", err)
			}
			if _, err := r.GetUserByOpenIDJSON(ctx, ""); !errors.Is(err, platform.ErrInvalid) {
				t.Errorf("empty open id = %v; want ErrInvalid", err)
			}
		})
	}
}
