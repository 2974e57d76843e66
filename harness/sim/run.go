package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Run runs a resolved test (Resolve) in the simulator: the engine's
// phases in virtual time. The configuration is used as it is; nothing is
// drawn again, so the record is the run.
func Run(ctx context.Context, tc store.TestConfig) (harness.Finished, error) {
	started := time.Now()
	s, err := New(tc)
	if err != nil {
		return harness.Finished{}, err
	}
	var out harness.Outcome
	var runErr error
	err = s.rt.run(func() {
		out, runErr = harness.Run(ctx, s, tc, harness.Options{})
	})
	if err == nil {
		err = runErr
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
