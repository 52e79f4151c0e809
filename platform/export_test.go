package platform

import "time"

// SetClock makes r read the time from now: tests move it past expiries.
func SetClock(r *Repository, now func() time.Time) { r.now = now }
