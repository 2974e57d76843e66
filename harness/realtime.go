package harness

import (
	"context"
	"sync"
	"time"
)

// RealTime is the Runtime of a real cluster: goroutines and the
// monotonic wall clock from the moment it was made.
type RealTime struct{ start time.Time }

// NewRealTime starts a run's clock now.
func NewRealTime() *RealTime { return &RealTime{start: time.Now()} }

func (rt *RealTime) Now() time.Duration { return time.Since(rt.start) }

func (rt *RealTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (rt *RealTime) Parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(fn)
	}
	wg.Wait()
}
