// Package redisstore is an aside.Store on Redis, through rueidis: one
// auto-pipelined client for a standalone server, Sentinel or Cluster.
//
// New tries to connect once, for at most the dial timeout, and does not
// fail when Redis is down: the store keeps trying in the background (with
// backoff, up to every 5 s) and its calls fail at once until it connects,
// so that a service can start while Redis is down; the Cache's breaker
// then sends reads to the loader.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/aside-cache/aside"
)

// Store is an aside.Store on Redis. It is safe for concurrent use.
type Store struct {
	opt    rueidis.ClientOption
	client *lazyClient
	conns  atomic.Uint64 // connections opened (lineage.go)
}

var _ aside.Store = (*Store)(nil)

// ErrNotConnected is returned by calls made before the store first reached
// Redis. It wraps the last connection error.
var ErrNotConnected = errors.New("redisstore: not connected")

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("redisstore: closed")

// New returns a Store for the Redis that opts names. It fails only on bad
// options; an unreachable Redis is retried in the background.
func New(opts Options) (*Store, error) {
	opt, err := opts.clientOption()
	if err != nil {
		return nil, err
	}
	s := &Store{}
	opt.DialCtxFn = s.dial
	s.opt, s.client = opt, newLazyClient(opt)
	return s, nil
}

// c returns the client, or an error saying why there is none.
func (s *Store) c() (rueidis.Client, error) { return s.client.get() }

// Client returns the underlying rueidis client, or nil before the store
// first connected. Benchmarks and tests use it to compare with raw calls.
func (s *Store) Client() rueidis.Client { return s.client.peek() }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	c, err := s.c()
	if err != nil {
		return err
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Get returns the value under key.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	c, err := s.c()
	if err != nil {
		return nil, false, err
	}
	b, err := c.Do(ctx, c.B().Get().Key(key).Build()).AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redisstore: get %q: %w", key, err)
	}
	return b, true, nil
}

// GetMulti returns the values under keys, nil for a key that holds
// nothing: one MGET on a standalone server (or a Sentinel's master), one
// per hash slot on a cluster, pipelined.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	c, err := s.c()
	if err != nil || len(keys) == 0 {
		return make([][]byte, len(keys)), err
	}
	values := make([][]byte, len(keys))
	if c.Mode() == rueidis.ClientModeCluster {
		byKey, err := rueidis.MGet(c, ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("redisstore: mget %d keys (%q, ...): %w", len(keys), keys[0], err)
		}
		for i, k := range keys {
			values[i] = valueOf(byKey[k])
		}
		return values, nil
	}
	arr, err := c.Do(ctx, c.B().Mget().Key(keys...).Build()).ToArray()
	if err != nil {
		return nil, fmt.Errorf("redisstore: mget %d keys (%q, ...): %w", len(keys), keys[0], err)
	}
	for i := range min(len(arr), len(keys)) {
		values[i] = valueOf(arr[i])
	}
	return values, nil
}

// valueOf is the bytes of one MGET reply, nil for a key that held nothing.
func valueOf(m rueidis.RedisMessage) []byte {
	b, err := m.AsBytes()
	if err != nil {
		return nil
	}
	return b
}

// Set stores value under key for ttl (SET PX).
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	c, err := s.c()
	if err != nil {
		return err
	}
	cmd := c.B().Set().Key(key).Value(rueidis.BinaryString(value)).PxMilliseconds(millis(ttl)).Build()
	if err := c.Do(ctx, cmd).Error(); err != nil {
		return fmt.Errorf("redisstore: set %q: %w", key, err)
	}
	return nil
}

// AddMany stores each item whose key holds nothing (SET NX PX), all in one
// pipeline.
func (s *Store) AddMany(ctx context.Context, items []aside.Item) (added int, err error) {
	c, err := s.c()
	if err != nil {
		return 0, err
	}
	cmds := make(rueidis.Commands, len(items))
	for i, it := range items {
		cmds[i] = c.B().Set().Key(it.Key).Value(rueidis.BinaryString(it.Value)).Nx().PxMilliseconds(millis(it.TTL)).Build()
	}
	// Every command ran; count all that were written before reporting
	// the first failure.
	var firstErr error
	for i, r := range c.DoMulti(ctx, cmds...) {
		switch err := r.Error(); {
		case rueidis.IsRedisNil(err): // present: left alone
		case err != nil && firstErr == nil:
			firstErr = fmt.Errorf("redisstore: add %q: %w", items[i].Key, err)
		case err == nil:
			added++
		}
	}
	return added, firstErr
}

// AddOrGet stores value under key for ttl unless the key holds something,
// which it returns: SET NX GET PX, one command (Redis 7.0 and later).
func (s *Store) AddOrGet(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	c, err := s.c()
	if err != nil {
		return nil, false, err
	}
	cmd := c.B().Set().Key(key).Value(rueidis.BinaryString(value)).Nx().Get().PxMilliseconds(millis(ttl)).Build()
	cur, err := c.Do(ctx, cmd).AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("redisstore: add %q: %w", key, err)
	}
	return cur, true, nil
}

// Replace stores each item (SET GET PX) and returns what each key held,
// all in one pipeline.
func (s *Store) Replace(ctx context.Context, items []aside.Item) ([][]byte, error) {
	c, err := s.c()
	if err != nil {
		return nil, err
	}
	cmds := make(rueidis.Commands, len(items))
	for i, it := range items {
		cmds[i] = c.B().Set().Key(it.Key).Value(rueidis.BinaryString(it.Value)).Get().PxMilliseconds(millis(it.TTL)).Build()
	}
	prior := make([][]byte, len(items))
	var firstErr error
	for i, r := range c.DoMulti(ctx, cmds...) {
		b, err := r.AsBytes()
		switch {
		case rueidis.IsRedisNil(err):
		case err != nil && firstErr == nil:
			firstErr = fmt.Errorf("redisstore: replace %q: %w", items[i].Key, err)
		case err == nil:
			prior[i] = b
		}
	}
	return prior, firstErr
}

// compareAndSet replaces the value of KEYS[1] with ARGV[2] for ARGV[3]
// milliseconds if it is ARGV[1]. Redis runs a script atomically.
var compareAndSet = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0`)

// CompareAndSet stores value under key for ttl if the key holds exactly old.
func (s *Store) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	c, err := s.c()
	if err != nil {
		return false, err
	}
	n, err := compareAndSet.Exec(ctx, c, []string{key},
		[]string{rueidis.BinaryString(old), rueidis.BinaryString(value), strconv.FormatInt(millis(ttl), 10)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("redisstore: compare and set %q: %w", key, err)
	}
	return n == 1, nil
}

// compareAndDelete removes KEYS[1] if it holds ARGV[1].
var compareAndDelete = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0`)

// CompareAndDelete removes key if it holds exactly old.
func (s *Store) CompareAndDelete(ctx context.Context, key string, old []byte) (bool, error) {
	c, err := s.c()
	if err != nil {
		return false, err
	}
	n, err := compareAndDelete.Exec(ctx, c, []string{key}, []string{rueidis.BinaryString(old)}).AsInt64()
	if err != nil {
		return false, fmt.Errorf("redisstore: compare and delete %q: %w", key, err)
	}
	return n == 1, nil
}

// unlinkHeads removes KEYS with UNLINK, which frees their memory off the
// main thread, and returns for each the first ARGV[1] bytes it held (false
// for a key that held nothing; "" for one that holds no string), so that
// a pattern delete counts entries without moving whole values.
var unlinkHeads = rueidis.NewLuaScript(`
local heads = {}
for i, k in ipairs(KEYS) do
	local ok, h = pcall(redis.call, 'GETRANGE', k, 0, tonumber(ARGV[1]) - 1)
	if not ok then h = '' end
	if redis.call('UNLINK', k) == 1 then heads[i] = h else heads[i] = false end
end
return heads`)

// Delete removes keys and returns the first head bytes each held, in one
// script run on a standalone server; on a cluster each key is a script
// run of its own, so that keys of different slots never meet in one, all
// in one pipeline.
func (s *Store) Delete(ctx context.Context, head int, keys ...string) ([][]byte, error) {
	c, err := s.c()
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	n := strconv.Itoa(max(head, 1))
	var runs []rueidis.LuaExec
	if c.Mode() == rueidis.ClientModeCluster {
		runs = make([]rueidis.LuaExec, len(keys))
		for i, k := range keys {
			runs[i] = rueidis.LuaExec{Keys: []string{k}, Args: []string{n}}
		}
	} else {
		runs = []rueidis.LuaExec{{Keys: keys, Args: []string{n}}}
	}
	prior := make([][]byte, 0, len(keys))
	for _, r := range unlinkHeads.ExecMulti(ctx, c, runs...) {
		heads, err := r.ToArray()
		if err != nil {
			return prior, fmt.Errorf("redisstore: unlink: %w", err)
		}
		for _, h := range heads {
			b, err := h.AsBytes()
			if err != nil { // false: the key held nothing
				b = nil
			}
			prior = append(prior, b)
		}
	}
	return prior, nil
}

// TTL returns the time key has left (PTTL).
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	c, err := s.c()
	if err != nil {
		return 0, false, err
	}
	ms, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64()
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("redisstore: pttl %q: %w", key, err)
	case ms == -2:
		return 0, false, nil
	case ms == -1:
		return aside.NoExpiry, true, nil
	}
	return time.Duration(ms) * time.Millisecond, true, nil
}

// Close ends the connect loop and closes the client.
func (s *Store) Close() error {
	s.client.close()
	return nil
}

// millis is ttl in whole milliseconds, at least one: PX 0 is an error.
func millis(ttl time.Duration) int64 {
	return max(ttl.Milliseconds(), 1)
}
