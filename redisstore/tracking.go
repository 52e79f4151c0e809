package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/aside-cache/aside"
)

var _ aside.Tracker = (*Store)(nil)

// Track starts a client of its own whose connections (one to each node
// of a cluster, to the master of a Sentinel set) are in Redis's
// broadcasting tracking mode on prefix: Redis pushes the keys under it
// that anyone changes, on the same connection, in the order it made the
// changes. A lost connection, and a flush, are told as nil. Like the
// store's, the client need not reach Redis at first (Confirm fails until
// it does); it reconnects by itself, and turns tracking on again before
// any command.
func (s *Store) Track(prefix string, onChange func(keys []string)) (aside.Tracking, error) {
	if s.client.closed.Load() {
		return nil, ErrClosed
	}
	opt := s.opt
	opt.DialCtxFn = nil      // the store's count is of its own connections
	opt.DisableCache = false // tracking needs RESP3 and rueidis's tracking handshake
	opt.ClientTrackingOptions = []string{"PREFIX", prefix, "BCAST"}
	opt.CacheSizeEachConn = 1 << 10 // rueidis's own cache goes unused: DoCache is never called
	opt.PipelineMultiplex = -1      // one connection a node: Confirm's round trip follows its pushes
	opt.OnInvalidations = func(msgs []rueidis.RedisMessage) {
		if msgs == nil {
			onChange(nil)
			return
		}
		keys := make([]string, 0, len(msgs))
		for _, m := range msgs {
			if k, err := m.ToString(); err == nil {
				keys = append(keys, k)
			}
		}
		onChange(keys)
	}
	return &tracking{client: newLazyClient(opt)}, nil
}

// tracking is a client whose connections receive tracking pushes.
type tracking struct {
	client *lazyClient
}

// Confirm asks every node's tracking connection for its id (CLIENT ID):
// the answer comes after every push Redis sent on that connection before
// it, and a new id names a connection that replaced a lost one.
func (t *tracking) Confirm(ctx context.Context) (string, error) {
	c, err := t.client.get()
	if err != nil {
		if errors.Is(err, rueidis.ErrNoCache) {
			return "", fmt.Errorf("redisstore: tracking needs Redis 6 or later, with RESP3: %w", err)
		}
		return "", err
	}
	nodes := c.Nodes()
	ids := make([]string, 0, len(nodes))
	for addr, node := range nodes {
		id, err := node.Do(ctx, node.B().ClientId().Build()).AsInt64()
		if err != nil {
			return "", fmt.Errorf("redisstore: tracking connection to %s: %w", addr, err)
		}
		ids = append(ids, addr+"#"+strconv.FormatInt(id, 10))
	}
	slices.Sort(ids)
	return strings.Join(ids, ","), nil
}

func (t *tracking) Close() error {
	t.client.close()
	return nil
}
