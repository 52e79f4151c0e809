package aside

import "context"

// A Tracker is a Store that can tell a Cache which keys change, through the
// store's own notifications (Redis's server-assisted tracking in
// broadcasting mode), so that a near cache of its entries in the process
// stays coherent with it. redisstore.Store is one.
type Tracker interface {
	// Track starts telling onChange the keys under prefix that any client
	// changes (writes, deletes, expiries, evictions), and nil for "any key
	// may have changed": the store flushed, or a tracking connection was
	// lost, so that what was told before no longer covers everything.
	// onChange runs on the store's reading goroutine: it must be quick.
	Track(prefix string, onChange func(keys []string)) (Tracking, error)
}

// Tracking is a Tracker's notifications under way.
type Tracking interface {
	// Confirm returns once every change the store made before the call
	// has been told to onChange (a round trip on every tracking
	// connection, after their notifications), and an error when it cannot
	// say so: a connection down, a node unreachable. session names the
	// tracking connections that answered: it changes when one was
	// replaced, and the changes made while it was being replaced may
	// never have been told.
	Confirm(ctx context.Context) (session string, err error)
	// Close stops the notifications.
	Close() error
}
