package store

import (
	"encoding/json"

	"fmt"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
)

// TestConfig is test.json: every effective setting of a run, resolved
// once before it starts, so that the run can be replayed from this file
// alone (raftcheck test --replay DIR).
type TestConfig struct {
	Name        string   `json:"name"`
	Backend     string   `json:"backend"`
	Target      string   `json:"target"`
	Nodes       int      `json:"nodes"`
	Workload    string   `json:"workload"`
	Nemesis     []string `json:"nemesis"`
	TimeLimit   Duration `json:"time_limit"`
	Concurrency int      `json:"concurrency"`
	Rate        float64  `json:"rate"`
	// OpsPerKey retires a key after this many operations (Jepsen's
	// independent keys): the check is exponential in the operations of
	// unknown outcome on one key. 0 (older records): 200.
	OpsPerKey int    `json:"ops_per_key,omitempty"`
	Seed      uint64 `json:"seed"`
	Unsafe    string `json:"unsafe,omitempty"`
	// EtcdReads is etcd's read mode, linearizable or serializable (target
	// etcd only; empty otherwise).
	EtcdReads string `json:"etcd_reads,omitempty"`
	// PipelinedConns, when positive, has raftnode's clients share that
	// many pipelined HTTP/1.1 connections per node for reads and as many
	// for writes (docker only); 0: a net/http connection per client.
	PipelinedConns int `json:"pipelined_conns,omitempty"`
	// CheckTimeout bounds the linearizability check; past it the verdict
	// is unknown.
	CheckTimeout Duration `json:"check_timeout"`

	// The engine's settings, the same for every backend. Zero before the
	// backend resolves them: the simulator draws unset ones from the
	// seed, docker takes its defaults.
	//
	// NemesisInterval is how long each fault lasts; the quiet time between
	// faults is half of it.
	NemesisInterval Duration `json:"nemesis_interval"`
	// ClientTimeout bounds one attempt of an operation.
	ClientTimeout Duration `json:"client_timeout"`
	// ElectionTimeout is the nodes' election timeout.
	ElectionTimeout Duration `json:"election_timeout"`
	// Retries of an indefinite write or cas, with the same session at the
	// next node; -1 for none (a system that cannot deduplicate a retry).
	Retries int `json:"retries"`
	// Recovery bounds the wait for a leader at start and after the final
	// heal.
	Recovery Duration `json:"recovery"`

	// BackendConfig holds the backend's own resolved settings: the
	// simulator's knobs as drawn from the seed, docker's image and its ID.
	BackendConfig json.RawMessage `json:"backend_config,omitempty"`

	// Schedule, when set, is the nemesis: exactly these actions at these
	// times since the run started, instead of a schedule drawn from the
	// seed (raftcheck shrink writes one).
	Schedule []TimedAction `json:"schedule,omitempty"`
}

// TimedAction is one action of an explicit schedule.
type TimedAction struct {
	At     Duration       `json:"at"`
	Action nemesis.Action `json:"action"`
}

// ReplayCommand is a command line that runs this test again with every
// engine setting spelled out; `raftcheck test --replay DIR` is the other
// way, from test.json itself.
func (c *TestConfig) ReplayCommand() string {
	nem := strings.Join(c.Nemesis, ",")
	if nem == "" {
		nem = "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "raftcheck test --backend %s --target %s --nodes %d --workload %s --nemesis %s --time-limit %s --concurrency %d --rate %g --seed %d",
		c.Backend, c.Target, c.Nodes, c.Workload, nem, time.Duration(c.TimeLimit), c.Concurrency, c.Rate, c.Seed)
	if c.OpsPerKey != 0 {
		fmt.Fprintf(&b, " --ops-per-key %d", c.OpsPerKey)
	}
	if c.Unsafe != "" {
		b.WriteString(" --unsafe " + c.Unsafe)
	}
	if c.EtcdReads != "" {
		b.WriteString(" --etcd-reads " + c.EtcdReads)
	}
	if c.PipelinedConns != 0 {
		fmt.Fprintf(&b, " --pipelined-conns %d", c.PipelinedConns)
	}
	flag := func(name string, d Duration) {
		if d > 0 {
			fmt.Fprintf(&b, " --%s %s", name, time.Duration(d))
		}
	}
	flag("nemesis-interval", c.NemesisInterval)
	flag("client-timeout", c.ClientTimeout)
	flag("election-timeout", c.ElectionTimeout)
	flag("recovery", c.Recovery)
	flag("check-timeout", c.CheckTimeout)
	if c.Retries != 0 {
		fmt.Fprintf(&b, " --retries %d", c.Retries)
	}
	var image struct {
		Image string `json:"image"`
	}
	if c.Backend == "docker" && json.Unmarshal(c.BackendConfig, &image) == nil && image.Image != "" {
		b.WriteString(" --image " + image.Image)
	}
	if len(c.Schedule) > 0 {
		fmt.Fprintf(&b, "   # not the same run: its %d scheduled actions are in test.json only; use --replay", len(c.Schedule))
	}
	return b.String()
}
