package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, started for a test.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the addresses of the cluster's nodes.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// StartCluster starts a cluster of masters (3 at least), splits the 16384
// slots between them, and waits until every node reports the cluster ok.
// It stops the nodes when the test ends.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	requireBinary(tb)
	if masters < 3 {
		tb.Fatalf("redistest: a cluster needs 3 masters, not %d", masters)
	}
	c := &Cluster{}
	for range masters {
		n, err := newClusterNode(tb.TempDir())
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		tb.Cleanup(n.Stop)
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.form(); err != nil {
		tb.Fatalf("redistest: form cluster: %v", err)
	}
	return c
}

func newClusterNode(dir string) (*Server, error) {
	return launch(dir, nil, []string{
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "2000",
	}, true)
}

// form assigns each node an equal range of slots, introduces the nodes to
// each other, and waits for the cluster to agree.
func (c *Cluster) form() error {
	const slots = 16384
	per := slots / len(c.Nodes)
	for i, n := range c.Nodes {
		first, last := i*per, (i+1)*per-1
		if i == len(c.Nodes)-1 {
			last = slots - 1
		}
		if _, err := Do(n.Addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil {
			return fmt.Errorf("addslotsrange on %s: %w", n.Addr, err)
		}
		if i > 0 {
			if _, err := Do(c.Nodes[0].Addr, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.port)); err != nil {
				return fmt.Errorf("meet %s: %w", n.Addr, err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.Nodes {
		for {
			info, err := Do(n.Addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(c.Nodes))) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("node %s never reported the cluster ok: %q", n.Addr, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
