package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"
)

// Scan returns one SCAN batch of keys that match pattern. On a cluster the
// walk visits every master in turn: the cursor is the Redis cursor on the
// current master, then "|" and the addresses of the masters still to visit,
// the current one first. The masters are listed once, when the walk starts.
func (s *Store) Scan(ctx context.Context, cursor, pattern string, count int) (keys []string, next string, err error) {
	c, err := s.c()
	if err != nil {
		return nil, "", err
	}
	if c.Mode() != rueidis.ClientModeCluster {
		return scanNode(ctx, c, cursor, pattern, count)
	}

	var masters []string
	if cursor == "" {
		if masters, err = clusterMasters(ctx, c); err != nil {
			return nil, "", err
		}
		if len(masters) == 0 {
			return nil, "", nil
		}
		cursor = "0|" + strings.Join(masters, ",")
	}
	nodeCursor, rest, ok := strings.Cut(cursor, "|")
	if !ok || rest == "" {
		return nil, "", fmt.Errorf("redisstore: bad scan cursor %q", cursor)
	}
	masters = strings.Split(rest, ",")
	node, ok := c.Nodes()[masters[0]]
	if !ok {
		return nil, "", fmt.Errorf("redisstore: scan: node %s left the cluster during the walk", masters[0])
	}
	if nodeCursor == "0" {
		nodeCursor = ""
	}
	keys, nodeNext, err := scanNode(ctx, node, nodeCursor, pattern, count)
	switch {
	case err != nil:
		return nil, "", err
	case nodeNext != "":
		return keys, nodeNext + "|" + rest, nil
	case len(masters) > 1:
		return keys, "0|" + strings.Join(masters[1:], ","), nil
	}
	return keys, "", nil
}

// scanNode runs one SCAN on one server; "" is both the first cursor and
// the one that ends the walk.
func scanNode(ctx context.Context, c rueidis.Client, cursor, pattern string, count int) ([]string, string, error) {
	var at uint64
	if cursor != "" {
		var err error
		if at, err = strconv.ParseUint(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("redisstore: bad scan cursor %q", cursor)
		}
	}
	e, err := c.Do(ctx, c.B().Scan().Cursor(at).Match(pattern).Count(int64(count)).Build()).AsScanEntry()
	if err != nil {
		return nil, "", fmt.Errorf("redisstore: scan: %w", err)
	}
	if e.Cursor == 0 {
		return e.Elements, "", nil
	}
	return e.Elements, strconv.FormatUint(e.Cursor, 10), nil
}

// clusterMasters lists the addresses of the cluster's masters, sorted.
// Replicas hold copies of their masters' keys; scanning them would only
// find the same keys again.
func clusterMasters(ctx context.Context, c rueidis.Client) ([]string, error) {
	var masters []string
	for addr, node := range c.Nodes() {
		role, err := node.Do(ctx, node.B().Role().Build()).ToArray()
		switch {
		case err != nil:
			return nil, fmt.Errorf("redisstore: role of %s: %w", addr, err)
		case len(role) == 0:
			return nil, fmt.Errorf("redisstore: role of %s: empty reply", addr)
		}
		if r, _ := role[0].ToString(); r == "master" {
			masters = append(masters, addr)
		}
	}
	slices.Sort(masters)
	return masters, nil
}
