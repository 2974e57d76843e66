package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
)

func historyBytes(t *testing.T, events []checker.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := checker.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func run(t *testing.T, cfg Config) ([]checker.Event, Stats) {
	t.Helper()
	events, st, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return events, st
}

// The same seed replays byte for byte; another seed does not.
func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Nemesis: nemesis.Kinds, TimeLimit: 10 * time.Second, Vary: true}
	a, _ := run(t, cfg)
	b, _ := run(t, cfg)
	if !bytes.Equal(historyBytes(t, a), historyBytes(t, b)) {
		t.Fatal("seed 42 gave two different histories")
	}
	cfg.Seed = 43
	c, _ := run(t, cfg)
	if bytes.Equal(historyBytes(t, a), historyBytes(t, c)) {
		t.Fatal("seeds 42 and 43 gave the same history: the seed is not used")
	}
}

// Without unsafe modes, faulty runs stay linearizable, and the faults
// really happen: nodes are cut off, crash and lose leadership.
func TestSafeRunsAreValid(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := range uint64(seeds) {
		events, st := run(t, Config{Seed: seed + 1, Nemesis: nemesis.Kinds, TimeLimit: 20 * time.Second, Vary: true})
		res, err := checker.Check(context.Background(), events)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != checker.Valid {
			t.Fatalf("seed %d: %v (keys %v)", seed+1, res.Verdict, res.Failing())
		}
		if res.Counts.OK < 300 || st.Faults < 3 || st.Net.Cut == 0 {
			t.Fatalf("seed %d: the run did too little: %+v, stats %+v", seed+1, res.Counts, st)
		}
		if len(st.NodeFailures) > 0 {
			t.Fatalf("seed %d: nodes stopped on errors: %v", seed+1, st.NodeFailures)
		}
	}
}

// Clients see every kind of outcome under faults, and a killed majority
// makes the cluster unavailable and then recover.
func TestFaultsAreFelt(t *testing.T) {
	events, _ := run(t, Config{Seed: 7, Nemesis: []string{"kill"}, TimeLimit: 20 * time.Second, NemesisInterval: 2 * time.Second})
	kinds := map[string]int{}
	for _, e := range events {
		if e.Nemesis {
			kinds[e.F]++
		}
	}
	if kinds["kill"] == 0 || kinds["start"] == 0 {
		t.Fatalf("no kill/start recorded: %v", kinds)
	}
}
