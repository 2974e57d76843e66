package harness

import (
	"errors"
	"fmt"
	"slices"

	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/workload"
)

// Validate reports every configuration error of cfg in words a user can
// act on (flag names, as the command line spells them). Engine settings
// left zero are the backend's to resolve.
func Validate(c store.TestConfig) error {
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
	switch {
	case c.PipelinedConns < 0:
		errs = append(errs, fmt.Errorf("--pipelined-conns %d: want 0 (a connection per client) or more", c.PipelinedConns))
	case c.PipelinedConns > 0 && c.Target != "raftnode":
		errs = append(errs, fmt.Errorf("--pipelined-conns is raftnode's HTTP client; etcd's clients share gRPC connections already"))
	case c.PipelinedConns > 0 && c.Backend != "docker":
		errs = append(errs, fmt.Errorf("--pipelined-conns needs --backend docker: the simulator's clients call the replica directly"))
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
	if c.OpsPerKey < 0 {
		errs = append(errs, fmt.Errorf("--ops-per-key %d: want at least 1 operation per key", c.OpsPerKey))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--rate %g: want operations per second > 0", c.Rate))
	}
	for _, d := range []struct {
		flag string
		v    store.Duration
	}{{"--nemesis-interval", c.NemesisInterval}, {"--client-timeout", c.ClientTimeout},
		{"--election-timeout", c.ElectionTimeout}, {"--recovery", c.Recovery}, {"--check-timeout", c.CheckTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative (0 takes the backend's default)", d.flag, d.v))
		}
	}
	if c.Retries < -1 {
		errs = append(errs, fmt.Errorf("--retries %d: want -1 (never retry), 0 (the backend's default) or more", c.Retries))
	}
	for _, k := range c.Nemesis {
		if _, err := nemesis.ParseKinds(k); err != nil {
			errs = append(errs, fmt.Errorf("--nemesis: %w", err))
		}
	}
	var last store.Duration
	for i, ta := range c.Schedule {
		switch {
		case ta.At < last:
			errs = append(errs, fmt.Errorf("schedule: action %d at %v comes before the one before it", i, ta.At))
		case ta.At > c.TimeLimit:
			errs = append(errs, fmt.Errorf("schedule: action %d at %v is past the time limit %v", i, ta.At, c.TimeLimit))
		case !nemesis.Known(ta.Action.F):
			errs = append(errs, fmt.Errorf("schedule: action %d: unknown f %q", i, ta.Action.F))
		}
		last = ta.At
	}
	if _, _, err := replica.ParseUnsafe(c.Unsafe); err != nil {
		errs = append(errs, fmt.Errorf("--unsafe: %w", err))
	}
	return errors.Join(errs...)
}

// Name names a test's directory in the results store.
func Name(cfg store.TestConfig) string {
	name := cfg.Target + "-" + cfg.Workload + "-" + cfg.Backend
	if cfg.Unsafe != "" {
		name += "-unsafe-" + cfg.Unsafe
	}
	if cfg.EtcdReads == string(workload.Serializable) {
		name += "-serializable-reads"
	}
	return name
}
