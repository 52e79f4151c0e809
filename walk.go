package aside

import (
	"context"
	"fmt"
	"slices"
)

// scanCount is the COUNT hint of each SCAN of a pattern delete.
const scanCount = 1000

// walkKeys removes every key matching the full pattern: SCAN a batch,
// remove it, until the walk is over, so that the store is never blocked
// as KEYS or one giant DEL would block it. w is how the walk reaches the
// store: a backend (through the breaker, each call bounded by OpTimeout)
// or the replay's direct way. ctx bounds the whole walk. It reports the
// entries removed, those before an error included.
func walkKeys(ctx context.Context, w walker, pattern string) (entries int, err error) {
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return entries, err
		}
		var keys []string
		keys, cursor, err = w.scan(ctx, cursor, pattern)
		if err != nil {
			return entries, fmt.Errorf("aside: delete pattern %q: %w", pattern, err)
		}
		keys = slices.DeleteFunc(keys, reservedKey) // the rewind defence's own
		if len(keys) > 0 {
			n, err := w.remove(ctx, keys)
			entries += n
			if err != nil {
				return entries, fmt.Errorf("aside: delete pattern %q: %w", pattern, err)
			}
		}
		if cursor == "" {
			return entries, nil
		}
	}
}
