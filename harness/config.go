// Package harness runs a test against a backend (the simulator or a
// docker cluster), checks its history and stores the run: the pieces
// every backend shares.
package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/workload"
)

// Duration is a time.Duration that reads and writes JSON as "30s".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// TestConfig is a test's full configuration: what test.json records and
// what replays a run.
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
	Seed        uint64   `json:"seed"`
	Unsafe      string   `json:"unsafe,omitempty"`
	// EtcdReads is etcd's read mode, linearizable or serializable (target
	// etcd only; empty otherwise).
	EtcdReads string `json:"etcd_reads,omitempty"`
	// CheckTimeout bounds the linearizability check; past it the verdict
	// is unknown.
	CheckTimeout Duration `json:"check_timeout"`
	// Backend holds the effective backend settings (e.g. the simulator's
	// resolved knobs), for the record.
	BackendConfig json.RawMessage `json:"backend_config,omitempty"`
}

// Validate reports a configuration error in words a user can act on.
func (c *TestConfig) Validate() error {
	var errs []error
	if !slices.Contains([]string{"sim", "docker"}, c.Backend) {
		errs = append(errs, fmt.Errorf("--backend %q: want sim or docker", c.Backend))
	}
	switch c.Target {
	case "raftnode":
		if c.EtcdReads != "" {
			errs = append(errs, fmt.Errorf("--etcd-reads is for --target etcd only"))
		}
	case "etcd":
		if c.Backend != "docker" {
			errs = append(errs, fmt.Errorf("--target etcd runs on --backend docker only (the simulator runs raftnode's code)"))
		}
		if c.Unsafe != "" {
			errs = append(errs, fmt.Errorf("--unsafe modes are raftnode's; etcd has none"))
		}
		if _, err := workload.ParseEtcdReads(c.EtcdReads); err != nil {
			errs = append(errs, fmt.Errorf("--etcd-reads %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("--target %q: want raftnode or etcd", c.Target))
	}
	if c.Nodes < 1 || c.Nodes > 9 {
		errs = append(errs, fmt.Errorf("--nodes %d: want 1 to 9 (3 or 5 are usual)", c.Nodes))
	}
	if c.Workload != "register" {
		errs = append(errs, fmt.Errorf("--workload %q: only register is supported", c.Workload))
	}
	if c.TimeLimit <= 0 {
		errs = append(errs, fmt.Errorf("--time-limit must be positive"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency %d: want at least 1", c.Concurrency))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--rate %g: want operations per second > 0", c.Rate))
	}
	for _, k := range c.Nemesis {
		if _, err := nemesis.ParseKinds(k); err != nil {
			errs = append(errs, fmt.Errorf("--nemesis: %w", err))
		}
	}
	if _, _, err := replica.ParseUnsafe(c.Unsafe); err != nil {
		errs = append(errs, fmt.Errorf("--unsafe: %w", err))
	}
	return errors.Join(errs...)
}

// ReplayCommand is the command line that runs this test again.
func (c *TestConfig) ReplayCommand() string {
	nem := strings.Join(c.Nemesis, ",")
	if nem == "" {
		nem = "none"
	}
	cmd := fmt.Sprintf("raftcheck test --backend %s --nodes %d --workload %s --nemesis %s --time-limit %s --concurrency %d --rate %g --seed %d",
		c.Backend, c.Nodes, c.Workload, nem, time.Duration(c.TimeLimit), c.Concurrency, c.Rate, c.Seed)
	if c.Unsafe != "" {
		cmd += " --unsafe " + c.Unsafe
	}
	if c.Target != "" && c.Target != "raftnode" {
		cmd += " --target " + c.Target
	}
	if c.EtcdReads != "" {
		cmd += " --etcd-reads " + c.EtcdReads
	}
	return cmd
}
