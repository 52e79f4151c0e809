package aside

import "context"

// A Lineage is a Store that can tell when the data it reaches may not be
// the data the Cache wrote to it: Redis restarted (from a snapshot, or
// empty), another server answers for it (a failover), or its data was
// flushed. A Cache then makes its recent invalidations hold again before
// it trusts the store (see RecoveryOptions). redisstore.Store is one.
type Lineage interface {
	// Connections is how many connections the store has opened so far. A
	// new connection may reach another server, or other data, and the
	// count moves before anything is sent on it: a call that began and
	// ended with the same count was answered on connections the Cache had
	// already checked.
	Connections() uint64
	// Epoch describes the data the store reaches now: it changes when
	// that data may have gone back in time (a node restarted, a replica
	// promoted, a flush), and stays the same across reconnections to the
	// same data. An error says the store cannot tell now.
	Epoch(ctx context.Context) (string, error)
}
