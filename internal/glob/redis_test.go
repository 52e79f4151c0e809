package glob

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/redis/rueidis"

	"github.com/aside-cache/aside/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// TestMatchAgreesWithRedis compares Match with SCAN MATCH on a real Redis,
// over random keys and patterns drawn from the bytes that matter to glob.
func TestMatchAgreesWithRedis(t *testing.T) {
	srv := redistest.Start(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab-^]\\[*?\xe9"
	random := func(maxLen int) string {
		b := make([]byte, rng.IntN(maxLen+1))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	keys := map[string]bool{}
	for len(keys) < 400 {
		keys[random(5)] = true
	}
	cmds := make(rueidis.Commands, 0, len(keys))
	for k := range keys {
		cmds = append(cmds, c.B().Set().Key(k).Value("v").Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	for range 600 {
		pattern := random(6)
		if pattern == "" {
			continue
		}
		var fromRedis []string
		var cursor uint64
		for {
			e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatalf("SCAN MATCH %q: %v", pattern, err)
			}
			fromRedis = append(fromRedis, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
		var fromMatch []string
		for k := range keys {
			if Match(pattern, k) {
				fromMatch = append(fromMatch, k)
			}
		}
		slices.Sort(fromRedis)
		fromRedis = slices.Compact(fromRedis)
		slices.Sort(fromMatch)
		if !slices.Equal(fromRedis, fromMatch) {
			t.Errorf("pattern %q: Redis matched %q, Match matched %q", pattern, fromRedis, fromMatch)
		}
	}
}
