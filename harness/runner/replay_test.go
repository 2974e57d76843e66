package runner

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"context"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
)

// The record is the run: for every seed, the configuration a run uses is
// the one test.json stores, whether it is read back from test.json or
// rebuilt from the printed replay command (a flag set to a drawn value
// must not shift the other draws).
func TestRecordIsTheRun(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 200
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		cfg := simConfig(seed, 20*time.Second)
		if seed%7 == 0 { // a workload setting round-trips too
			cfg.OpsPerKey = 10 + int(seed%50)
		}
		tc, err := sim.Resolve(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sim.New(tc)
		if err != nil {
			t.Fatal(err)
		}
		stored := roundTrip(t, tc)
		var recorded sim.Knobs
		if err := json.Unmarshal(stored.BackendConfig, &recorded); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(recorded, s.Knobs()) {
			t.Fatalf("seed %d: test.json records %+v, the run used %+v", seed, recorded, s.Knobs())
		}
		replayed, err := sim.Resolve(stored)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(roundTrip(t, replayed), stored) {
			t.Fatalf("seed %d: resolving test.json again changed it", seed)
		}
		fromFlags, err := sim.Resolve(fromCommand(t, tc.ReplayCommand()))
		if err != nil {
			t.Fatal(err)
		}
		fromFlags.Name = tc.Name
		if a, b := roundTrip(t, fromFlags), stored; !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: the replay command resolves to\n%+v\nnot\n%+v", seed, a, b)
		}
	}
}

// A replay from test.json alone gives the same history, byte for byte.
func TestReplayIsByteIdentical(t *testing.T) {
	seeds := 50
	if testing.Short() {
		seeds = 10
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		tc, first := simulate(t, simConfig(seed, 10*time.Second))
		_, again := simulate(t, roundTrip(t, tc))
		if !bytes.Equal(historyBytes(t, first.Outcome.Events), historyBytes(t, again.Outcome.Events)) {
			t.Fatalf("seed %d: the replay of test.json differs from the run", seed)
		}
	}
}

// roundTrip is tc as stored in test.json and read back.
func roundTrip(t *testing.T, tc store.TestConfig) store.TestConfig {
	t.Helper()
	b, err := json.Marshal(tc)
	if err != nil {
		t.Fatal(err)
	}
	var out store.TestConfig
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// fromCommand parses a printed replay command as raftcheck test would.
func fromCommand(t *testing.T, cmd string) store.TestConfig {
	t.Helper()
	args := strings.Fields(cmd)
	if len(args) < 2 || args[0] != "raftcheck" || args[1] != "test" {
		t.Fatalf("not a raftcheck test command: %q", cmd)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := NewFlags(fs, "docker", time.Minute)
	if err := fs.Parse(args[2:]); err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	req, err := f.Request()
	if err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	return req.Config
}

func simConfig(seed uint64, timeLimit time.Duration) store.TestConfig {
	return store.TestConfig{Name: "raftnode-register-sim", Backend: "sim", Target: "raftnode", Nodes: 5, Workload: "register",
		Nemesis: nemesis.Kinds, TimeLimit: store.Duration(timeLimit), Concurrency: 10, Rate: 200, Seed: seed,
		CheckTimeout: store.Duration(5 * time.Minute)}
}

func simulate(t *testing.T, tc store.TestConfig) (store.TestConfig, harness.Finished) {
	t.Helper()
	tc, err := sim.Resolve(tc)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := sim.Run(context.Background(), tc)
	if err != nil {
		t.Fatal(err)
	}
	return tc, fin
}

func historyBytes(t *testing.T, events []checker.Event) []byte {
	t.Helper()
	b, err := checker.Encode(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A docker run's client setting is in test.json and in its replay
// command.
func TestPipelinedConnsRecorded(t *testing.T) {
	tc := simConfig(42, time.Minute)
	tc.Name, tc.Backend, tc.PipelinedConns = "raftnode-register-docker", "docker", 3
	if got := roundTrip(t, tc).PipelinedConns; got != 3 {
		t.Errorf("test.json keeps pipelined_conns %d, want 3", got)
	}
	if got := fromCommand(t, tc.ReplayCommand()).PipelinedConns; got != 3 {
		t.Errorf("the replay command %q gives --pipelined-conns %d, want 3", tc.ReplayCommand(), got)
	}
	tc.PipelinedConns = 0
	if cmd := tc.ReplayCommand(); strings.Contains(cmd, "pipelined") {
		t.Errorf("a run with a connection per client prints %q", cmd)
	}
}
