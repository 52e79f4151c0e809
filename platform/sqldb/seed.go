package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/aside-cache/aside/platform"
)

// seedBatch is how many rows one INSERT of the demo data carries.
const seedBatch = 500

// Seed fills an empty database with d, in one transaction, and reports
// whether it did. A database with any user is left alone, and two
// processes seeding at once seed once.
func (s *DB) Seed(ctx context.Context, d platform.Demo) (seeded bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect.name == "postgres" {
			// SQLite's immediate transaction already holds the write lock.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("sqldb: seed: %w", err)
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q("countUsers")).Scan(&n); err != nil {
			return fmt.Errorf("sqldb: seed: %w", err)
		}
		if n > 0 {
			return nil
		}
		if err := s.insertDemo(ctx, tx, d); err != nil {
			return err
		}
		seeded = true
		return nil
	})
	return seeded, err
}

func (s *DB) insertDemo(ctx context.Context, tx *sql.Tx, d platform.Demo) error {
	users := make([][]any, len(d.Users))
	for i, u := range d.Users {
		users[i] = []any{u.ID, u.OpenID, u.Name, u.Email, u.Role, u.CreatedAt, u.UpdatedAt, d.PasswordHash}
	}
	jobs := make([][]any, len(d.Jobs))
	for i, j := range d.Jobs {
		jobs[i] = []any{j.ID, j.UserID, j.Type, j.Status, string(j.Input), j.Progress, j.Error, j.CreatedAt, j.UpdatedAt, j.CompletedAt}
	}
	results := make([][]any, len(d.Results))
	for i, r := range d.Results {
		results[i] = []any{r.JobID, string(r.Result), r.CreatedAt}
	}
	for _, t := range []struct {
		table, cols string
		rows        [][]any
	}{
		{"users", "id, open_id, name, email, role, created_at, updated_at, password_hash", users},
		{"jobs", jobCols, jobs},
		{"job_results", "job_id, result, created_at", results},
	} {
		if err := s.insertRows(ctx, tx, t.table, t.cols, t.rows); err != nil {
			return err
		}
	}
	if s.dialect.name == "postgres" {
		// Explicit ids leave the identity sequences behind: move them on.
		for _, table := range []string{"users", "jobs"} {
			q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), (SELECT max(id) FROM %[1]s))`, table)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqldb: seed: advance %s ids: %w", table, err)
			}
		}
	}
	return nil
}

// insertRows inserts rows in multi-row INSERTs of seedBatch rows.
func (s *DB) insertRows(ctx context.Context, tx *sql.Tx, table, cols string, rows [][]any) error {
	for start := 0; start < len(rows); start += seedBatch {
		batch := rows[start:min(start+seedBatch, len(rows))]
		var q strings.Builder
		fmt.Fprintf(&q, "INSERT INTO %s (%s) VALUES ", table, cols)
		args := make([]any, 0, len(batch)*len(batch[0]))
		for i, row := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					q.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&q, "$%d", len(args))
			}
			q.WriteByte(')')
		}
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(q.String()), args...); err != nil {
			return fmt.Errorf("sqldb: seed %s: %w", table, err)
		}
	}
	return nil
}
