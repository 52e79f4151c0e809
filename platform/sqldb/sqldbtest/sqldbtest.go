// Package sqldbtest gives a test a PostgreSQL database of its own: created on
// the server at ASIDE_TEST_POSTGRES_URL (default
// postgres://postgres:postgres@127.0.0.1:5432/test) and dropped when the
// test ends. It never touches another database.
//
// Without a server, NewDatabase skips the test, or fails it when the CI
// environment variable is set.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// DefaultURL is the admin connection used when ASIDE_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL returns the URL of the server's admin connection.
func AdminURL() string {
	if u := os.Getenv("ASIDE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database for the test and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		tb.Fatalf("sqldbtest: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("sqldbtest: PostgreSQL at %s does not answer and CI is set: %v", redacted(AdminURL()), err)
		}
		tb.Skipf("sqldbtest: PostgreSQL at %s does not answer: %v", redacted(AdminURL()), err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "aside_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("sqldbtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() { drop(tb, name) })
	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("sqldbtest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func drop(tb testing.TB, name string) {
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		tb.Errorf("sqldbtest: drop %s: %v", name, err)
		return
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		tb.Errorf("sqldbtest: drop database %s: %v", name, err)
	}
}

func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
