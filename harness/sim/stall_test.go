package sim

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// A node loop that never returns stops virtual time: Run must give up on
// it with a StalledError naming the seed and the instant, instead of
// hanging the caller (raftcheck sim reports it as not live).
func TestStalledRunIsReported(t *testing.T) {
	s := newFiveSecondSim(t, 41)
	var release atomic.Bool
	t.Cleanup(func() { release.Store(true) }) // let the stuck goroutine go
	s.clock.after(int64(2*time.Second), func() {
		for !release.Load() {
		}
	})
	_, err := s.finish(context.Background(), 200*time.Millisecond)
	var stalled *StalledError
	if !errors.As(err, &stalled) {
		t.Fatalf("finish returned %v, want a StalledError", err)
	}
	if stalled.Seed != 41 || stalled.At != 2*time.Second || stalled.For < 200*time.Millisecond {
		t.Errorf("stalled %+v, want seed 41 at 2s after at least 200ms", stalled)
	}
}

// A healthy run is not taken for a stalled one: its virtual time keeps
// moving (a 5 s run takes a few tens of milliseconds; the bound is far
// above any pause of a loaded machine).
func TestHealthyRunDoesNotStall(t *testing.T) {
	s := newFiveSecondSim(t, 42)
	if _, err := s.finish(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// newFiveSecondSim builds the simulator of a resolved 5 s test at seed.
func newFiveSecondSim(t *testing.T, seed uint64) *Simulator {
	t.Helper()
	tc, err := Resolve(testConfig(seed, 5*time.Second, ""))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(tc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
