package redisstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/redis/rueidis"

	"github.com/aside-cache/aside"
)

var _ aside.Lineage = (*Store)(nil)

// dial opens a connection as rueidis would, and counts it before rueidis
// sends anything on it: see Connections.
func (s *Store) dial(ctx context.Context, dst string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", dst)
	} else {
		conn, err = d.DialContext(ctx, "tcp", dst)
	}
	if err == nil {
		s.conns.Add(1)
	}
	return conn, err
}

// Connections is how many connections the store has opened (to Redis, to
// a cluster's nodes, to Sentinels): a new one may reach another server.
func (s *Store) Connections() uint64 { return s.conns.Load() }

// Epoch describes the data the store reaches. On a cluster: every
// master's address, run id (new on every restart), replication id (new
// when a replica is promoted, or on a restart) and how many FLUSHALL,
// FLUSHDB and SWAPDB it ran (Redis tells no tracking client of a SWAPDB);
// replicas are left out, theirs change on their own. On a standalone
// server or a Sentinel's master: the one node the store talks to, whatever
// its role, for a master demoted to a replica behind a connection that
// stayed up, or an address moved to a replica, serves another master's
// data (its replication id is that master's); the flush counts are left
// out there, for a flush of another database would count, and the Cache
// finds a flush of its own by a key of its own (see aside.Lineage). A
// Redis that refuses INFO (an ACL, a renamed command) cannot tell: Epoch
// then returns "" and no error.
func (s *Store) Epoch(ctx context.Context) (string, error) {
	c, err := s.c()
	if err != nil {
		return "", err
	}
	cluster := c.Mode() == rueidis.ClientModeCluster
	var nodes []string
	for addr, node := range c.Nodes() {
		m, err := nodeEpoch(ctx, node, cluster)
		switch {
		case isRefused(err):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("redisstore: epoch of %s: %w", addr, err)
		case m != "":
			nodes = append(nodes, addr+" "+m)
		}
	}
	slices.Sort(nodes)
	return strings.Join(nodes, ", "), nil
}

// nodeEpoch is one node's part of the epoch: on a cluster, "" for a
// replica, and the flush counts of a master.
func nodeEpoch(ctx context.Context, node rueidis.Client, cluster bool) (string, error) {
	res := node.DoMulti(ctx,
		node.B().Info().Section("server").Build(),
		node.B().Info().Section("replication").Build(),
		node.B().Info().Section("commandstats").Build())
	var info [3]string
	for i, r := range res {
		var err error
		if info[i], err = r.ToString(); err != nil {
			return "", err
		}
	}
	role := infoField(info[1], "role")
	if !cluster {
		return fmt.Sprintf("role %s run %s repl %s", role, infoField(info[0], "run_id"), infoField(info[1], "master_replid")), nil
	}
	if role != "master" {
		return "", nil
	}
	return fmt.Sprintf("run %s repl %s flushall %s flushdb %s swapdb %s", infoField(info[0], "run_id"), infoField(info[1], "master_replid"),
		callsOf(info[2], "flushall"), callsOf(info[2], "flushdb"), callsOf(info[2], "swapdb")), nil
}

// infoField is the value of name in an INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimRight(v, "\r\n")
		}
	}
	return ""
}

// callsOf is how many times cmd ran, from INFO commandstats.
func callsOf(commandstats, cmd string) string {
	v := infoField(commandstats, "cmdstat_"+cmd)
	calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
	if calls == "" {
		return "0"
	}
	return calls
}

// isRefused reports whether err is Redis refusing INFO for good: an ACL
// without the permission, or a command renamed away.
func isRefused(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	if !ok || re == nil {
		return false
	}
	msg := re.Error()
	return strings.HasPrefix(msg, "NOPERM") || strings.HasPrefix(msg, "ERR unknown command")
}
