package sim

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The same seed replays byte for byte; another seed does not.
func TestDeterministic(t *testing.T) {
	_, a := simulate(t, testConfig(42, 10*time.Second, ""))
	_, b := simulate(t, testConfig(42, 10*time.Second, ""))
	if !bytes.Equal(historyBytes(t, a.Outcome.Events), historyBytes(t, b.Outcome.Events)) {
		t.Fatal("seed 42 gave two different histories")
	}
	_, c := simulate(t, testConfig(43, 10*time.Second, ""))
	if bytes.Equal(historyBytes(t, a.Outcome.Events), historyBytes(t, c.Outcome.Events)) {
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
		tc, fin := simulate(t, testConfig(seed+1, 20*time.Second, ""))
		res := check(t, fin.Outcome.Events)
		if res.Verdict.String() != "valid" {
			t.Fatalf("seed %d: %v (keys %v)", tc.Seed, res.Verdict, res.Failing())
		}
		bit := 0
		for _, f := range fin.Outcome.Faults {
			if f.Bit != nil && *f.Bit {
				bit++
			}
		}
		if res.Counts.OK < 200 || bit < 3 {
			t.Fatalf("seed %d: the run did too little: %+v, %d faults bit of %v", tc.Seed, res.Counts, bit, fin.Outcome.Faults)
		}
		if fin.Outcome.Invariant != "" || fin.Outcome.NotLive != "" {
			t.Fatalf("seed %d: invariant %q, not live %q", tc.Seed, fin.Outcome.Invariant, fin.Outcome.NotLive)
		}
		for _, n := range fin.Notes {
			if bytes.Contains([]byte(n), []byte("node stopped itself")) {
				t.Fatalf("seed %d: %s", tc.Seed, n)
			}
		}
	}
}

// Clients see faults: kills and restarts are recorded in pairs, and
// statuses show nodes down.
func TestFaultsAreFelt(t *testing.T) {
	tc := testConfig(7, 20*time.Second, "")
	tc.Nemesis = []string{"kill"}
	tc.NemesisInterval = 2e9
	_, fin := simulate(t, tc)
	kinds := map[string]int{}
	for _, e := range fin.Outcome.Events {
		if e.Nemesis {
			kinds[e.F]++
		}
	}
	if kinds["kill"] == 0 || kinds["kill"]%2 != 0 || kinds["start"] == 0 || kinds["heal-all"] != 2 {
		t.Fatalf("nemesis events not in invoke/info pairs: %v", kinds)
	}
	down := 0
	for _, s := range fin.Outcome.Statuses {
		if !s.Up {
			down++
		}
	}
	if down == 0 {
		t.Fatal("no status sample saw a node down during kills")
	}
}

// The docker backend's loss and latency faults, by the same names, in
// virtual time: they bite (messages dropped and delayed on the links they
// name), recover, and replay byte for byte.
func TestLinkFaults(t *testing.T) {
	tc := testConfig(11, 10*time.Second, "")
	tc.Nemesis = []string{"loss", "latency"}
	tc.NemesisInterval = 1e9
	_, a := simulate(t, tc)
	_, b := simulate(t, tc)
	if !bytes.Equal(historyBytes(t, a.Outcome.Events), historyBytes(t, b.Outcome.Events)) {
		t.Fatal("a run with link faults does not replay byte for byte")
	}
	degrades := 0
	for _, f := range a.Outcome.Faults {
		if bytes.HasPrefix([]byte(f.Action), []byte("degrade")) && f.Bit != nil && *f.Bit && f.End > f.Start {
			degrades++
		}
	}
	note := strings.Join(a.Notes, " ")
	if degrades < 3 || !regexp.MustCompile(`lost to link faults [1-9]`).MatchString(note) ||
		!regexp.MustCompile(`delayed by link faults [1-9]`).MatchString(note) {
		t.Fatalf("%d degrade faults bit; notes: %s", degrades, note)
	}
	if res := check(t, a.Outcome.Events); res.Verdict.String() != "valid" {
		t.Fatalf("correct raftnode under loss and latency: %v", res.Verdict)
	}
}

// Every cluster size the CLI accepts runs: one and two nodes have no
// Figure 8 (it cuts the leader off with a minority) and must not crash
// drawing one.
func TestSmallClusters(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		for seed := uint64(1); seed <= 8; seed++ {
			tc := testConfig(seed, 3*time.Second, "")
			tc.Nodes = nodes
			_, fin := simulate(t, tc)
			if fin.Outcome.Duration == 0 {
				t.Fatalf("nodes=%d seed=%d: the run did not advance", nodes, seed)
			}
		}
	}
}
