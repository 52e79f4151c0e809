package aside_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/memstore"
)

func ExampleGetOrSet() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()

	loadUser := func(ctx context.Context) (string, error) {
		fmt.Println("query the database")
		return "Ada", nil
	}
	for range 3 {
		name, err := aside.GetOrSet(ctx, c, "user:1", time.Hour, loadUser)
		fmt.Println(name, err)
	}
	st := c.Stats()
	fmt.Printf("hits %d, misses %d, hit rate %.2f%%\n", st.Hits, st.Misses, st.HitRate)
	// Output:
	// query the database
	// Ada <nil>
	// Ada <nil>
	// Ada <nil>
	// hits 2, misses 1, hit rate 66.67%
}

func ExampleNamespace_GetEncoded() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{}) // the JSON codec
	defer c.Close()
	ctx := context.Background()

	type User struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	users, err := aside.NewNamespace[User](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	load := func(context.Context) (User, error) { return User{1, "Ada"}, nil }
	for range 2 {
		body, err := users.GetEncoded(ctx, "1", load) // what an HTTP handler writes out
		fmt.Println(string(body), err)
	}
	// Output:
	// {"id":1,"name":"Ada"} <nil>
	// {"id":1,"name":"Ada"} <nil>
}

func ExampleNamespace() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()

	type User struct{ ID, Name string }
	users, err := aside.NewNamespace[User](c, aside.NamespaceConfig{Name: "users", Prefix: "user:", TTL: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	db := map[string]User{"1": {"1", "Ada"}}
	load := func(id string) func(context.Context) (User, error) {
		return func(context.Context) (User, error) {
			u, ok := db[id]
			if !ok {
				return User{}, aside.ErrNotFound // cached as a negative entry
			}
			return u, nil
		}
	}

	u, _ := users.Get(ctx, "1", load("1"))
	fmt.Println(u.Name)
	_, err = users.Get(ctx, "2", load("2"))
	fmt.Println(err)

	db["1"] = User{"1", "Ada Lovelace"} // a write...
	users.Invalidate(ctx, "1")          // ...then its invalidation
	u, _ = users.Get(ctx, "1", load("1"))
	fmt.Println(u.Name)
	// Output:
	// Ada
	// aside: load "user:2": aside: not found
	// Ada Lovelace
}

func ExampleCache_DeletePattern() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()

	for _, k := range []string{"user:1", "user:2", "job:1"} {
		aside.Set(ctx, c, k, "v", time.Hour)
	}
	removed, _ := c.DeletePattern(ctx, "user:*")
	fmt.Println("removed", removed)
	removed, _ = c.Clear(ctx)
	fmt.Println("cleared", removed)
	// Output:
	// removed 2
	// cleared 1
}

func ExampleNamespace_Warm() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()

	jobs, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "jobs", Prefix: "job:", TTL: 5 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	recent := map[string]string{"1": "queued", "2": "running"}
	written, err := jobs.Warm(ctx, func(yield func(string, string) bool) {
		for id, status := range recent {
			if !yield(id, status) {
				return
			}
		}
	})
	fmt.Println(written, err)
	// Output: 2 <nil>
}

func ExampleKey() {
	fmt.Println(aside.Key("user:", 42))
	fmt.Println(aside.Key("job:", "7:result")) // cannot pose as job 7's result
	// Output:
	// user:42
	// job:7%3Aresult
}

func ExampleNamespace_GetMany() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()

	products, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "products", TTL: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	table := map[string]string{"1": "chair", "2": "table", "3": "lamp"}
	load := func(ctx context.Context, missing []string) (map[string]string, error) {
		fmt.Println("SELECT ... WHERE id IN", missing) // one query for every id the cache lacks
		found := map[string]string{}
		for _, id := range missing {
			if name, ok := table[id]; ok {
				found[id] = name
			}
		}
		return found, nil // 9 is left out: cached as not found
	}
	got, _ := products.GetMany(ctx, []string{"1", "2"}, load)
	fmt.Println(got["1"], got["2"])
	got, _ = products.GetMany(ctx, []string{"1", "2", "3", "9"}, load)
	fmt.Println(len(got), got["3"])
	// Output:
	// SELECT ... WHERE id IN [1 2]
	// chair table
	// SELECT ... WHERE id IN [3 9]
	// 3 lamp
}

func ExampleCache_Invalidate() {
	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()

	// Category pages, "<category>:<page>", in the group of their category.
	pages, err := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "pages", TTL: time.Hour,
		Groups: func(id string) []string {
			category, _, _ := strings.Cut(id, ":")
			return []string{"category:" + category}
		}})
	if err != nil {
		log.Fatal(err)
	}
	products, _ := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "products", TTL: time.Hour})
	render := func(id string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { fmt.Println("render", id); return "page " + id, nil }
	}
	for _, id := range []string{"chairs:1", "chairs:2", "lamps:1"} {
		pages.Get(ctx, id, render(id))
	}
	// A chair moved to lamps: its entry, and every page of both categories,
	// in one store call.
	if err := c.Invalidate(ctx, products.IDs("42"), aside.Groups("category:chairs", "category:lamps")); err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"chairs:1", "chairs:2", "lamps:1"} {
		pages.Get(ctx, id, render(id))
	}
	// Output:
	// render chairs:1
	// render chairs:2
	// render lamps:1
	// render chairs:1
	// render chairs:2
	// render lamps:1
}

// A handler maps the cache's errors to HTTP statuses once: each condition
// has one shape, whatever the cache's state.
func ExampleLoadError() {
	status := func(err error) int {
		var le *aside.LoadError
		switch {
		case err == nil:
			return 200
		case errors.Is(err, aside.ErrNotFound):
			return 404 // the loader said so, now or when it was cached
		case errors.Is(err, aside.ErrInvalid):
			return 400
		case errors.Is(err, context.Canceled):
			return 499 // the client left: nothing to send
		case errors.Is(err, aside.ErrLoadTimeout), errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &le):
			return 504 // the database was too slow, or the request's own deadline passed
		case errors.As(err, &le):
			return 503 // the database failed: le.Key says which read
		}
		return 500
	}
	afterWrite := func(err error) int { // a committed write, then its invalidation
		if err == nil || errors.Is(err, aside.ErrDeferred) {
			return 200 // deferred: kept and replayed, the write stands
		}
		return 500
	}

	store, _ := memstore.New(memstore.Options{})
	c, _ := aside.New(store, aside.Options{})
	defer c.Close()
	ctx := context.Background()
	users, _ := aside.NewNamespace[string](c, aside.NamespaceConfig{Name: "users", TTL: time.Hour})

	_, err := users.Get(ctx, "7", func(context.Context) (string, error) { return "", aside.ErrNotFound })
	fmt.Println(status(err))
	_, err = users.Get(ctx, "7", func(context.Context) (string, error) { return "", errors.New("unreachable") })
	fmt.Println(status(err)) // the negative entry answers: the same shape
	_, err = users.Get(ctx, "", func(context.Context) (string, error) { return "", nil })
	fmt.Println(status(err))
	_, err = users.Get(ctx, "8", func(context.Context) (string, error) { return "", errors.New("connection refused") })
	fmt.Println(status(err))
	fmt.Println(afterWrite(users.Invalidate(ctx, "8")))
	// Output:
	// 404
	// 404
	// 400
	// 503
	// 200
}
