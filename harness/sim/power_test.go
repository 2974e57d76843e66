package sim

import (
	"context"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/replica"
)

// TestUnsafeModesAreCaught is the proof of the harness's power: for each
// deliberate bug, some seed's history is not linearizable. The search is
// bounded; the figures for 1000 seeds come from `raftcheck sim`.
func TestUnsafeModesAreCaught(t *testing.T) {
	limit := 200
	if testing.Short() {
		limit = 40
	}
	for _, mode := range replica.UnsafeModes() {
		t.Run(mode, func(t *testing.T) {
			u, ru, _ := replica.ParseUnsafe(mode)
			start := time.Now()
			for seed := uint64(1); seed <= uint64(limit); seed++ {
				events, _ := run(t, Config{Seed: seed, Nemesis: nemesis.Kinds, TimeLimit: 20 * time.Second,
					Vary: true, Unsafe: u, RaftUnsafe: ru})
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				res, err := checker.Check(ctx, events)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				if res.Verdict == checker.Invalid {
					t.Logf("%s caught at seed %d after %v", mode, seed, time.Since(start).Round(time.Millisecond))
					return
				}
			}
			t.Fatalf("%s: no violation in %d seeds: the nemesis, workload or simulated faults are too weak", mode, limit)
		})
	}
}
