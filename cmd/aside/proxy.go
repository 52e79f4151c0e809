package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// runProxy forwards TCP connections to a target and delays what the target
// sends back by -delay, so that a database on loopback answers as one
// across a network would: every query's round trip takes -delay more,
// while throughput is not capped (the delay is latency, not a queue).
func runProxy(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("proxy", stderr)
	listen := fs.String("listen", "127.0.0.1:15432", "listen address")
	target := fs.String("target", "127.0.0.1:5432", "the server to forward to")
	delay := fs.Duration("delay", 5*time.Millisecond, "added to each reply")
	if err := parse(fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "proxy %s -> %s, replies delayed %v\n", ln.Addr(), *target, *delay)
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		client, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wg.Go(func() { proxyConn(ctx, client, *target, *delay) })
	}
}

func proxyConn(ctx context.Context, client net.Conn, target string, delay time.Duration) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); server.Close() })
	defer stop()
	go func() {
		io.Copy(server, client)
		server.Close()
	}()
	delayedCopy(client, server, delay)
}

// chunk is bytes read and the time they may be written.
type chunk struct {
	data []byte
	due  time.Time
}

// delayedCopy copies src to dst, each chunk delay after it was read.
func delayedCopy(dst io.Writer, src io.Reader, delay time.Duration) {
	queue := make(chan chunk, 1024)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range queue {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			for range queue { // drain, so the reader ends
			}
			return
		}
	}
}
