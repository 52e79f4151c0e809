package sqldb

import (
	"context"
	"database/sql"

	"github.com/aside-cache/aside/platform"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanUser(r scanner) (platform.User, error) {
	var u platform.User
	var last sql.NullTime
	if err := r.Scan(&u.ID, &u.OpenID, &u.Name, &u.Email, &u.Role, &u.CreatedAt, &u.UpdatedAt, &last); err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
	if last.Valid {
		t := utc(last.Time)
		u.LastSignedIn = &t
	}
	return u, nil
}

func scanJob(r scanner) (platform.Job, error) {
	var j platform.Job
	var input []byte
	var errText sql.NullString
	var completed sql.NullTime
	if err := r.Scan(&j.ID, &j.UserID, &j.Type, &j.Status, &input, &j.Progress, &errText,
		&j.CreatedAt, &j.UpdatedAt, &completed); err != nil {
		return j, err
	}
	j.Input = input
	j.CreatedAt, j.UpdatedAt = utc(j.CreatedAt), utc(j.UpdatedAt)
	if errText.Valid {
		j.Error = &errText.String
	}
	if completed.Valid {
		t := utc(completed.Time)
		j.CompletedAt = &t
	}
	return j, nil
}

func scanSession(r scanner) (platform.Session, error) {
	var s platform.Session
	err := r.Scan(&s.TokenHash, &s.UserID, &s.CreatedAt, &s.ExpiresAt)
	s.CreatedAt, s.ExpiresAt = utc(s.CreatedAt), utc(s.ExpiresAt)
	return s, err
}

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll runs a query and reads every row with scan.
func queryAll[T any](ctx context.Context, db querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
