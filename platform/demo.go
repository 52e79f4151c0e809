package platform

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Demo is a set of rows that fills an empty database, so that a newcomer
// has something to read at once. Ids are 1..n.
type Demo struct {
	Users   []User
	Jobs    []Job
	Results []JobResult
	// PasswordHash is every demo user's password, DemoPassword, hashed.
	PasswordHash string
}

// DemoPassword is the password of every demo user: the demo data is for
// trying the server on a laptop, never for a deployment.
const DemoPassword = "demo-password"

var (
	demoFirst = []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "John"}
	demoLast  = []string{"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman", "Backus"}
	demoTypes = []string{"normalize", "dedupe", "enrich", "export", "validate"}
)

// NewDemo makes users and jobs, spread over the 30 days before now, with a
// result for each completed job. The same seed gives the same data.
func NewDemo(users, jobs int, seed uint64, now time.Time) Demo {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now = now.UTC().Truncate(time.Microsecond)
	back := func(max time.Duration) time.Time {
		return now.Add(-time.Duration(rng.Int64N(int64(max)))).Truncate(time.Microsecond)
	}
	d := Demo{PasswordHash: hashPassword(DemoPassword)}
	for i := 1; i <= users; i++ {
		created := back(30 * 24 * time.Hour)
		u := User{
			ID: int64(i), OpenID: fmt.Sprintf("demo-%06d", i),
			Name:  demoFirst[rng.IntN(len(demoFirst))] + " " + demoLast[rng.IntN(len(demoLast))],
			Email: fmt.Sprintf("user%d@example.com", i), Role: RoleUser,
			CreatedAt: created, UpdatedAt: created,
		}
		if i%50 == 0 {
			u.Role = RoleAdmin
		}
		d.Users = append(d.Users, u)
	}
	statuses := []JobStatus{StatusQueued, StatusRunning, StatusCompleted, StatusCompleted, StatusCompleted, StatusFailed}
	for i := 1; i <= jobs && users > 0; i++ {
		created := back(30 * 24 * time.Hour)
		input, _ := json.Marshal(map[string]any{"rows": rng.IntN(100_000), "source": fmt.Sprintf("upload-%d.csv", i)})
		j := Job{
			ID: int64(i), UserID: int64(1 + rng.IntN(users)), Type: demoTypes[rng.IntN(len(demoTypes))],
			Status: statuses[rng.IntN(len(statuses))], Input: input, CreatedAt: created, UpdatedAt: created,
		}
		switch j.Status {
		case StatusRunning:
			j.Progress = rng.IntN(100)
		case StatusFailed:
			msg := "source file has no header row"
			j.Error = &msg
			j.Progress = rng.IntN(100)
		case StatusCompleted:
			done := created.Add(time.Duration(rng.IntN(600)) * time.Second)
			j.Progress, j.CompletedAt, j.UpdatedAt = 100, &done, done
			result, _ := json.Marshal(map[string]any{"rowsOut": rng.IntN(100_000), "warnings": rng.IntN(10)})
			d.Results = append(d.Results, JobResult{JobID: j.ID, Result: result, CreatedAt: done})
		}
		d.Jobs = append(d.Jobs, j)
	}
	return d
}
