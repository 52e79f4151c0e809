package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy relays TCP connections to a Redis, and can cut them: a network
// partition between one client and a Redis that others still reach.
type Proxy struct {
	Addr string // 127.0.0.1:port, what the client dials

	ln net.Listener

	mu     sync.Mutex
	target string                // guarded by mu: where new connections go
	cut    bool                  // guarded by mu: connections are refused and closed
	conns  map[net.Conn]struct{} // guarded by mu: both ends of every relayed connection
}

// NewProxy starts a proxy to target (host:port) for the test and stops it
// when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := ListenProxy(target)
	if err != nil {
		tb.Fatalf("redistest: proxy: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

// ListenProxy starts a proxy to target (host:port) on a free loopback
// port. The caller closes it.
func ListenProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

// URL is the redis:// URL of the proxy, database 0.
func (p *Proxy) URL() string { return "redis://" + p.Addr + "/0" }

// Cut closes every relayed connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Point sends new connections to target and closes the relayed ones, as a
// managed Redis endpoint does when it fails over to a replica: clients
// reconnect to the same address and reach another server.
func (p *Proxy) Point(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops the proxy and closes every relayed connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Cut()
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		go p.relay(client)
	}
}

// relay joins client to a new connection to the target, unless cut.
func (p *Proxy) relay(client net.Conn) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	server, err := net.Dial("tcp", target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.cut || p.target != target {
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { io.Copy(dst, src); done <- struct{}{} }
	go pipe(server, client)
	go pipe(client, server)
	<-done // one side ended: end both
	client.Close()
	server.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
