package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// testFlags are the flags shared by test and sim.
type testFlags struct {
	cfg        harness.TestConfig
	nemesis    string
	timeLimit  time.Duration
	checkLimit time.Duration
	seed       uint64
	seedSet    bool
	results    string
	htmlAlways bool
}

func newTestFlags(fs *flag.FlagSet, defaultBackend string, defaultTime time.Duration) *testFlags {
	f := &testFlags{}
	fs.StringVar(&f.cfg.Backend, "backend", defaultBackend, "where the cluster runs: docker or sim")
	fs.StringVar(&f.cfg.Target, "target", "raftnode", "the system under test: raftnode, or etcd (docker backend only)")
	fs.StringVar(&f.cfg.EtcdReads, "etcd-reads", "", "target etcd: read mode, linearizable (default) or serializable (may be stale)")
	fs.IntVar(&f.cfg.Nodes, "nodes", 5, "cluster size")
	fs.StringVar(&f.cfg.Workload, "workload", "register", "the workload: register (read, write, cas on rotating keys)")
	fs.StringVar(&f.nemesis, "nemesis", "partition,kill,pause", "faults to inject: any of partition,kill,pause, or all, or none")
	fs.DurationVar(&f.timeLimit, "time-limit", defaultTime, "how long the fault phase runs")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", 10, "concurrent client processes")
	fs.Float64Var(&f.cfg.Rate, "rate", 200, "operations per second across all clients")
	fs.Func("seed", "random seed (default: chosen and printed)", func(s string) error {
		_, err := fmt.Sscan(s, &f.seed)
		f.seedSet = true
		return err
	})
	fs.StringVar(&f.cfg.Unsafe, "unsafe", "", "DANGER: run the target with deliberate bugs, to prove the checker catches them")
	fs.StringVar(&f.results, "results", "results", "directory of the results store")
	fs.DurationVar(&f.checkLimit, "check-timeout", 5*time.Minute, "bound on the linearizability check; past it the verdict is unknown")
	fs.BoolVar(&f.htmlAlways, "html", false, "write the HTML view even for a valid history")
	return f
}

// resolve completes and validates the configuration after parsing.
func (f *testFlags) resolve(name string) error {
	if err := f.complete(name); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// complete is resolve without the usage marker: campaigns put the spec's
// file and line in front of the same messages instead.
func (f *testFlags) complete(name string) error {
	kinds, err := nemesis.ParseKinds(f.nemesis)
	if err != nil {
		return fmt.Errorf("--nemesis: %w", err)
	}
	f.cfg.Nemesis = kinds
	f.cfg.TimeLimit = harness.Duration(f.timeLimit)
	f.cfg.CheckTimeout = harness.Duration(f.checkLimit)
	if !f.seedSet {
		f.seed = rand.Uint64() >> 12 // short enough to type
	}
	f.cfg.Seed = f.seed
	f.cfg.Name = name
	if f.cfg.Target == "etcd" && f.cfg.EtcdReads == "" {
		f.cfg.EtcdReads = string(workload.Linearizable)
	}
	return f.cfg.Validate()
}

// parse parses args into fs, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

// testName names a run's directory in the results store.
func testName(cfg harness.TestConfig) string {
	name := cfg.Target + "-" + cfg.Workload + "-" + cfg.Backend
	if cfg.Unsafe != "" {
		name += "-unsafe-" + cfg.Unsafe
	}
	if cfg.EtcdReads == string(workload.Serializable) {
		name += "-serializable-reads"
	}
	return name
}
