package redisstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// lazyClient is a rueidis client that need not reach Redis to be made: it
// tries once, then keeps trying in the background (with backoff, up to
// every 5 s) until it connects or is closed, so that a service starts
// while Redis is down. Once made, rueidis reconnects by itself.
type lazyClient struct {
	opt    rueidis.ClientOption
	client atomic.Pointer[rueidis.Client] // nil until connected

	dialErr atomic.Pointer[error] // the last failed connection attempt
	stop    chan struct{}         // closed by close: ends the connect loop
	wg      sync.WaitGroup        // the connect loop
	closed  atomic.Bool
}

func newLazyClient(opt rueidis.ClientOption) *lazyClient {
	l := &lazyClient{opt: opt, stop: make(chan struct{})}
	if err := l.connect(); err != nil {
		l.wg.Add(1)
		go l.connectLoop()
	}
	return l
}

func (l *lazyClient) connect() error {
	c, err := rueidis.NewClient(l.opt)
	if err != nil {
		err = fmt.Errorf("redisstore: connect %v: %w", l.opt.InitAddress, err)
		l.dialErr.Store(&err)
		return err
	}
	l.client.Store(&c)
	return nil
}

// connectLoop retries the first connection until it succeeds or close.
func (l *lazyClient) connectLoop() {
	defer l.wg.Done()
	wait := 100 * time.Millisecond
	for {
		select {
		case <-l.stop:
			return
		case <-time.After(wait):
		}
		if l.connect() == nil {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// get returns the client, or an error saying why there is none.
func (l *lazyClient) get() (rueidis.Client, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if p := l.client.Load(); p != nil {
		return *p, nil
	}
	if p := l.dialErr.Load(); p != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, *p)
	}
	return nil, ErrNotConnected
}

// peek returns the client, or nil before it first connected.
func (l *lazyClient) peek() rueidis.Client {
	if p := l.client.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *lazyClient) close() {
	if l.closed.Swap(true) {
		return
	}
	close(l.stop)
	l.wg.Wait()
	if p := l.client.Load(); p != nil {
		(*p).Close()
	}
}
