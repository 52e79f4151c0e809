// Command aside-server runs the job platform of the guide: users, jobs,
// job results and sessions over HTTP, every read through the cache, with
// the guide's monitoring endpoints, Prometheus metrics and health checks.
//
// With no configuration it keeps its data in ./data/aside.db (SQLite),
// caches in process, listens on :8080 and fills an empty database with demo
// data. See the README for the environment variables.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; stopping the
	// notification then gives the signals back their default action, so
	// that a second one ends the process at once instead of waiting for
	// the shutdown's deadline (as signal.NotifyContext's doc suggests).
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "aside-server:", err)
		os.Exit(1)
	}
}
