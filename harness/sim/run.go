package sim

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/node/replica"
)

// FromTest turns a test configuration into a simulator configuration.
// Knobs the test does not set are drawn from the seed (Vary).
func FromTest(tc harness.TestConfig) (Config, error) {
	u, ru, err := replica.ParseUnsafe(tc.Unsafe)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Seed: tc.Seed, Nodes: tc.Nodes, TimeLimit: time.Duration(tc.TimeLimit),
		Concurrency: tc.Concurrency, Rate: tc.Rate, Nemesis: tc.Nemesis,
		Unsafe: u, RaftUnsafe: ru, Vary: true}
	return cfg.Resolve(), nil
}

// RunTest runs a test in the simulator.
func RunTest(tc harness.TestConfig) (harness.Outcome, Config, error) {
	cfg, err := FromTest(tc)
	if err != nil {
		return harness.Outcome{}, cfg, err
	}
	start := time.Now()
	events, st, err := Run(cfg)
	if err != nil {
		return harness.Outcome{}, cfg, err
	}
	wall := time.Since(start)
	out := harness.Outcome{Events: events, StartedAt: start, Duration: wall,
		Faults: harness.FaultsFromHistory(events)}
	out.Notes = append(out.Notes, fmt.Sprintf("simulated %v in %v (%.0fx real time), %d events; network sent %d, lost %d, cut %d, duplicated %d; %d reactive faults",
		st.VirtualTime, wall.Round(time.Millisecond), st.VirtualTime.Seconds()/wall.Seconds(), st.Events,
		st.Net.Sent, st.Net.Lost, st.Net.Cut, st.Net.Duplicated, st.Reactive))
	for _, f := range st.NodeFailures {
		out.Notes = append(out.Notes, "node stopped itself: "+f)
	}
	return out, cfg, nil
}

// MarshalConfig renders the effective configuration for test.json.
func MarshalConfig(cfg Config) json.RawMessage {
	b, _ := json.Marshal(cfg)
	return b
}
