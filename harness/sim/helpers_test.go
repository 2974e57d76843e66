package sim

import (
	"context"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
)

// testConfig is a simulated test as `raftcheck sim` makes one, before
// Resolve.
func testConfig(seed uint64, timeLimit time.Duration, unsafe string) store.TestConfig {
	return store.TestConfig{Name: "sim-test", Backend: "sim", Target: "raftnode", Nodes: 5, Workload: "register",
		Nemesis: nemesis.Kinds, TimeLimit: store.Duration(timeLimit), Concurrency: 10, Rate: 200, Seed: seed,
		Unsafe: unsafe, CheckTimeout: store.Duration(time.Minute)}
}

// simulate resolves and runs tc.
func simulate(t testing.TB, tc store.TestConfig) (store.TestConfig, harness.Finished) {
	t.Helper()
	tc, err := Resolve(tc)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := Run(context.Background(), tc)
	if err != nil {
		t.Fatal(err)
	}
	return tc, fin
}

func historyBytes(t testing.TB, events []checker.Event) []byte {
	t.Helper()
	b, err := checker.Encode(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func check(t testing.TB, events []checker.Event) checker.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := checker.Check(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
