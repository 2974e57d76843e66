package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Run runs a resolved test (Resolve) in the simulator: the engine's
// phases in virtual time. The configuration is used as it is; nothing is
// drawn again, so the record is the run.
func Run(ctx context.Context, tc store.TestConfig) (harness.Finished, error) {
	s, err := New(tc)
	if err != nil {
		return harness.Finished{}, err
	}
	return s.finish(ctx, DefaultStallAfter)
}

// finish runs the engine on s; a clock that stops for stallAfter ends
// it with a StalledError.
func (s *Simulator) finish(ctx context.Context, stallAfter time.Duration) (harness.Finished, error) {
	started := time.Now()
	tc := s.tc
	var out harness.Outcome
	done := make(chan error, 1)
	go func() {
		var runErr error
		err := s.rt.run(func() {
			out, runErr = harness.Run(ctx, s, tc, harness.Options{})
		})
		if err == nil {
			err = runErr
		}
		done <- err
	}()
	err := s.watch(done, stallAfter)
	var stalled *StalledError
	if errors.As(err, &stalled) {
		return harness.Finished{}, err
	}
	if err != nil {
		return harness.Finished{}, fmt.Errorf("sim seed %d: %w", tc.Seed, err)
	}
	wall := time.Since(started)
	st := s.Stats()
	fin := harness.Finished{Config: tc, Outcome: out, StartedAt: started, Wall: wall}
	fin.Notes = append(fin.Notes, fmt.Sprintf("simulated %v in %v (%.0fx real time), %d events; network sent %d, lost %d, cut %d, duplicated %d, slowed %d, one-way cut %d, held %d (released %d), late duplicates %d, held by paused senders %d, redialed to restarted nodes %d, lost to link faults %d, delayed by link faults %d; %d reactive faults, %d figure-8 rounds",
		st.VirtualTime, wall.Round(time.Millisecond), st.VirtualTime.Seconds()/wall.Seconds(), st.Events,
		st.Net.Sent, st.Net.Lost, st.Net.Cut, st.Net.Duplicated, st.Net.Slowed, st.Net.OneWayCut, st.Net.Held, st.Net.Released,
		st.Net.LateDuplicated, st.Net.OutboundHeld, st.Net.Redialed, st.Net.DegradedLost, st.Net.DegradedDelayed, st.Reactive, st.Figure8))
	for _, f := range st.NodeFailures {
		fin.Notes = append(fin.Notes, "node stopped itself: "+f)
	}
	return fin, nil
}
