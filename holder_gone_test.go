package aside_test

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aside-cache/aside"
	"github.com/aside-cache/aside/redistest"
)

// Section 3: "A holder that is gone stalls no one for long", for claims
// and for leases a snapshot brought back.

const testChildEnv = "ASIDE_TEST_CHILD"

// A refresh's claim whose holder is killed -9 mid-load: an entry past its
// TTL within its stale period (MaxStale) is reloaded under a claim; the
// promise is that a claim lives HolderTimeout (1 s) unless renewed, so a
// reader in another process waits about a second, not LeaseTTL.
func TestAKilledClaimHolderStallsReadersAboutASecond(t *testing.T) {
	opts := func(prefix string) aside.Options {
		return aside.Options{KeyPrefix: prefix, MaxStale: time.Hour, OpTimeout: 5 * time.Second}
	}
	if os.Getenv(testChildEnv) == "claim" {
		addr, prefix := os.Getenv(childRedis), os.Getenv(childPrefix)
		c, err := aside.New(newRedisStore(t, addr), opts(prefix))
		if err != nil {
			t.Fatal(err)
		}
		aside.GetOrSet(context.Background(), c, "k", 200*time.Millisecond, func(context.Context) (string, error) {
			redistest.Do(addr, "SET", prefix+"loading", "1")
			select {} // killed here
		})
		return
	}
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	ctx := context.Background()
	c := newCache(t, newRedisStore(t, srv.Addr), opts(prefix))
	if _, err := aside.GetOrSet(ctx, c, "k", 200*time.Millisecond, mustLoad("first")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past its TTL, within its stale period
	holder := exec.Command(os.Args[0], "-test.run=^TestAKilledClaimHolderStallsReadersAboutASecond$")
	holder.Env = append(os.Environ(), testChildEnv+"=claim", childRedis+"="+srv.Addr, childPrefix+"="+prefix)
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	waitFor(t, "the holder to claim and load", func() bool {
		v, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"loading")
		return v == "1"
	})
	time.Sleep(1500 * time.Millisecond) // the holder has renewed its claim by now
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.Wait()
	killed := time.Now()
	got, err := aside.GetOrSet(ctx, c, "k", 200*time.Millisecond, mustLoad("second"))
	took := time.Since(killed)
	t.Logf("read after the claim holder was killed = %q, %v, %v after the kill; lease waits %d", got, err, took, c.Stats().LeaseWaits)
	if took > 3*time.Second {
		t.Errorf("a read of a key whose claim holder was killed took %v; want about HolderTimeout (1 s)", took)
	}
}

// A lease brought back by a restart from a snapshot taken while a holder,
// since killed, held it: no reader waits on it longer than its hold life.
func TestALeaseASnapshotBroughtBackStallsReadersAboutASecond(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix(t)
	holder := child(t, "hang", srv.Addr, prefix, 1, 0)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	waitFor(t, "the holder to start loading", func() bool {
		v, _ := redistest.Do(srv.Addr, "EXISTS", prefix+"loading")
		return v == "1"
	})
	time.Sleep(1200 * time.Millisecond)
	if err := srv.Snapshot(); err != nil {
		t.Fatal(err)
	}
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	if err := srv.RestartFromSnapshot(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	if v, _ := redistest.Do(srv.Addr, "PTTL", prefix+"cold"); v != "" {
		t.Logf("the restored lease has %s ms left", v)
	}
	c := newCache(t, newRedisStore(t, srv.Addr), aside.Options{KeyPrefix: prefix, OpTimeout: 5 * time.Second})
	got, err := aside.GetOrSet(context.Background(), c, "cold", time.Hour, mustLoad("mine"))
	took := time.Since(back)
	t.Logf("read = %q, %v after %v; lease waits %d", got, err, took, c.Stats().LeaseWaits)
	if took > 3*time.Second {
		t.Errorf("a read of a key whose lease a snapshot brought back took %v; want about HolderTimeout (1 s)", took)
	}
}
