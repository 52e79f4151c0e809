package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/aside-cache/aside/redistest"
)

// chaosRig is what `aside chaos` runs against: a Redis master with a
// replica, behind an endpoint (a TCP proxy, as a managed Redis's address
// is) that the servers connect to; a PostgreSQL database of its own; and
// the aside-server processes.
type chaosRig struct {
	dir      string
	master   *redistest.Server // the current master
	replica  *redistest.Server // nil once promoted
	endpoint *redistest.Proxy
	pgAdmin  string
	pgName   string
	pgURL    string
	binary   string
	servers  []*chaosServer
	near     bool // the servers' ASIDE_NEAR_CACHE
}

// The replica authenticates to the master as a user of its own, so that
// a phase can cut the link where no Sentinel or reconnection mends it.
const (
	replUser     = "repl"
	replPassword = "repl-chaos-password"
	chaosToken   = "chaos-admin-token-0123456789"
)

// chaosServer is one aside-server process.
type chaosServer struct {
	name string
	url  string
	cmd  *exec.Cmd
	dead bool // killed by a phase: its requests are not counted
}

func newChaosRig(ctx context.Context, binary, pgAdmin string, near bool) (r *chaosRig, err error) {
	r = &chaosRig{binary: binary, pgAdmin: pgAdmin, near: near}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.dir, err = os.MkdirTemp("", "aside-chaos-"); err != nil {
		return r, err
	}
	if err = r.startRedis(); err != nil {
		return r, err
	}
	if err = r.createDatabase(ctx); err != nil {
		return r, err
	}
	for _, name := range []string{"A", "B"} {
		s, err := r.startServer(ctx, name, r.pgURL)
		if err != nil {
			return r, err
		}
		r.servers = append(r.servers, s)
	}
	return r, nil
}

func (r *chaosRig) startRedis() error {
	var err error
	for _, d := range []string{"master", "replica"} {
		if err = os.Mkdir(filepath.Join(r.dir, d), 0o755); err != nil {
			return err
		}
	}
	r.master, err = redistest.New(filepath.Join(r.dir, "master"), "--user", replUser, "on", ">"+replPassword, "~*", "&*", "+@all")
	if err != nil {
		return fmt.Errorf("start the master: %w", err)
	}
	r.replica, err = redistest.New(filepath.Join(r.dir, "replica"), "--replicaof", "127.0.0.1", strconv.Itoa(r.master.Port()),
		"--masteruser", replUser, "--masterauth", replPassword)
	if err != nil {
		return fmt.Errorf("start the replica: %w", err)
	}
	if err := waitLinked(r.replica); err != nil {
		return err
	}
	r.endpoint, err = redistest.ListenProxy(r.master.Addr)
	return err
}

// waitLinked waits until replica has its master's data.
func waitLinked(replica *redistest.Server) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if info, _ := redistest.Do(replica.Addr, "INFO", "replication"); strings.Contains(info, "master_link_status:up") {
			return nil
		}
	}
	return errors.New("the replica never linked to the master")
}

// createDatabase creates a PostgreSQL database of the run's own.
func (r *chaosRig) createDatabase(ctx context.Context) error {
	admin, err := sql.Open("pgx", r.pgAdmin)
	if err != nil {
		return err
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "aside_chaos_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create a PostgreSQL database (set -postgres): %w", err)
	}
	r.pgName = name
	u, err := url.Parse(r.pgAdmin)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	r.pgURL = u.String()
	return nil
}

// startServer starts an aside-server on the shared Redis endpoint and
// databaseURL, and waits until it listens. Its log goes to a file in the
// run's folder.
func (r *chaosRig) startServer(ctx context.Context, name, databaseURL string) (*chaosServer, error) {
	cmd := exec.Command(r.binary)
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "DATABASE_URL="+databaseURL, "REDIS_URL=redis://"+r.endpoint.Addr+"/0",
		"ASIDE_AUTH=off", "ASIDE_ADMIN_TOKEN="+chaosToken, "ASIDE_LOG_LEVEL=info", "ASIDE_NEAR_CACHE="+onOff(r.near))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(r.dir, "server-"+name+".log"))
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", r.binary, err)
	}
	s := &chaosServer{name: name, cmd: cmd}
	addr := make(chan string, 1)
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(io.TeeReader(stderr, logFile))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			return nil, fmt.Errorf("server %s exited before it listened (see %s)", name, logFile.Name())
		}
		s.url = "http://" + a
		return s, nil
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("server %s did not listen within 60 s", name)
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// kill kills a server with SIGKILL, as a crash or an OOM kill would.
func (s *chaosServer) kill() {
	s.dead = true
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// cutReplica stops the replica from receiving the master's writes: its
// user is turned off and its link closed, so it cannot reconnect.
func (r *chaosRig) cutReplica() error {
	if _, err := redistest.Do(r.master.Addr, "ACL", "SETUSER", replUser, "off"); err != nil {
		return err
	}
	_, err := redistest.Do(r.master.Addr, "CLIENT", "KILL", "USER", replUser)
	return err
}

// failOver kills the master and promotes the replica, with what it has,
// behind the same endpoint.
func (r *chaosRig) failOver() error {
	if err := r.master.Kill(); err != nil {
		return err
	}
	if err := r.replica.Promote(); err != nil {
		return err
	}
	r.master, r.replica = r.replica, nil
	r.endpoint.Point(r.master.Addr)
	return nil
}

// delayedDatabase is a proxy to PostgreSQL that delays every reply by d:
// the database of a server whose loads are slow. It stops with ctx.
func (r *chaosRig) delayedDatabase(ctx context.Context, d time.Duration) (string, error) {
	u, err := url.Parse(r.pgURL)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	target := u.Host
	go func() { <-ctx.Done(); ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go proxyConn(ctx, c, target, d)
		}
	}()
	u.Host = ln.Addr().String()
	return u.String(), nil
}

func (r *chaosRig) close() {
	for _, s := range r.servers {
		if !s.dead {
			s.cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { s.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				s.cmd.Process.Kill()
			}
		}
	}
	if r.endpoint != nil {
		r.endpoint.Close()
	}
	for _, s := range []*redistest.Server{r.master, r.replica} {
		if s != nil {
			s.Stop()
		}
	}
	if r.pgName != "" {
		if admin, err := sql.Open("pgx", r.pgAdmin); err == nil {
			admin.Exec("DROP DATABASE IF EXISTS " + r.pgName + " WITH (FORCE)")
			admin.Close()
		}
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}
