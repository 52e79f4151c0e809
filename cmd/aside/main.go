// Command aside is the operator's tool for an aside-server and the
// project's measurement kit.
//
//	aside stats    [-url U] [-watch 2s]           the cache's figures, refreshed with rates a second
//	aside help     [command]                      the commands, or one command's flags
//	aside clear    [-url U] [-pattern P]          clear the cache (needs ASIDE_ADMIN_TOKEN)
//	aside inspect  [-redis URL] -key K            what a key holds in Redis: kind, times, value
//	aside bench    [-url U] -path P [flags]       drive a server with load; see -h
//	aside baseline [-addr A] [-redis URL]         the baselines: static JSON, one Redis GET per request
//	aside proxy    -listen A -target B -delay D   a TCP proxy that delays replies (a remote database)
//	aside stampede -urls U,U,... -path P          cold reads of one key across servers: database loads
//	aside delete   [flags]                        pattern delete in a private Redis, probed for latency
//	aside warm     [flags]                        warm-up time and round trips
//	aside report   -in DIR -png FILE              tables and a latency chart from bench results
//	aside chaos    [-server BIN] [-phase D]       Redis's faults under load: failures, stale reads, latency
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "aside:", err)
		}
		os.Exit(2)
	}
}

// errUsage is returned after usage was printed.
var errUsage = errors.New("usage")

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"stats":    {"the cache's figures", runStats},
	"clear":    {"clear the cache, or the keys matching -pattern", runClear},
	"inspect":  {"what a key holds in Redis: the kind of entry, its times, its value", runInspect},
	"bench":    {"drive a server with load and measure it", runBench},
	"baseline": {"serve the baselines: static JSON and one Redis GET per request", runBaseline},
	"proxy":    {"a TCP proxy that delays what the target sends back", runProxy},
	"stampede": {"cold reads of one key across servers, counting database loads", runStampede},
	"delete":   {"pattern delete in a private Redis while a probe measures GET latency", runDelete},
	"warm":     {"warm-up time and round trips", runWarm},
	"report":   {"tables and a latency chart from bench results", runReport},
	"chaos":    {"two servers through Redis pauses, restarts, a snapshot, a failover and a kill: failures, stale reads", runChaos},
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "help" {
		return help(ctx, args[1], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		usage(stderr)
		return errUsage
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "aside: unknown command %q\n", args[0])
		usage(stderr)
		return errUsage
	}
	return cmd.run(ctx, args[1:], getenv, stdout, stderr)
}

// help prints what a command does and its flags, on stdout: asked for,
// it is the answer, not an error.
func help(ctx context.Context, name string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "aside: unknown command %q\n", name)
		usage(stderr)
		return errUsage
	}
	fmt.Fprintf(stdout, "aside %s: %s\n\n", name, cmd.summary)
	if err := cmd.run(ctx, []string{"-h"}, getenv, stdout, stdout); !errors.Is(err, errUsage) {
		return fmt.Errorf("aside %s -h: %v", name, err)
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: aside <command> [flags]; aside help <command> for its flags")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
}
