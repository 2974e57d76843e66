package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/node/replica"
)

// TestUnsafeModesAreCaught is the proof of the harness's power: for each
// deliberate bug, some seed fails: its history is not linearizable or it
// breaks a Raft invariant. The search is
// bounded; the figures for 1000 seeds come from `raftcheck sim`.
func TestUnsafeModesAreCaught(t *testing.T) {
	limit := 200
	if testing.Short() {
		limit = 100
	}
	// A bug in membership changes needs the nemesis that makes them.
	extra := map[string][]string{"config-before-noop": {"membership"}}
	for _, mode := range replica.UnsafeModes() {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			for seed := uint64(1); seed <= uint64(limit); seed++ {
				tc := testConfig(seed, 20*time.Second, mode)
				tc.Nemesis = append(slices.Clone(tc.Nemesis), extra[mode]...)
				_, fin := simulate(t, tc)
				// Caught as raftcheck sim catches it: a history that is
				// not linearizable, or a Raft invariant broken.
				invalid := check(t, fin.Outcome.Events).Verdict == checker.Invalid
				if invalid || fin.Outcome.Invariant != "" {
					t.Logf("%s caught at seed %d after %v (history invalid: %v; invariant: %q)", mode, seed,
						time.Since(start).Round(time.Millisecond), invalid, fin.Outcome.Invariant)
					return
				}
			}
			t.Fatalf("%s: no violation in %d seeds: the nemesis, workload or simulated faults are too weak", mode, limit)
		})
	}
}

// The invariant checks, run after every step of every node, name the
// rule a deliberate bug breaks, often long before the history shows it.
func TestInvariantsCatchUnsafeModes(t *testing.T) {
	for mode, rule := range map[string]string{
		"forget-vote":        "Durable term and vote",
		"vote-any-log":       "Leader Completeness",
		"commit-prior-term":  "Leader Completeness",
		"ack-before-persist": "Durable term and vote",
	} {
		t.Run(mode, func(t *testing.T) {
			for seed := uint64(1); seed <= 100; seed++ {
				_, fin := simulate(t, testConfig(seed, 20*time.Second, mode))
				if inv := fin.Outcome.Invariant; inv != "" {
					if !strings.Contains(inv, rule) {
						t.Logf("seed %d broke another rule first: %s", seed, inv)
					}
					t.Logf("%s: seed %d: %s", mode, seed, inv)
					return
				}
			}
			t.Fatalf("%s: no invariant broken in 100 seeds", mode)
		})
	}
}
