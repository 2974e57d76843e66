package runner

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// Flags are the flags of `raftcheck test`, which are also the keys of a
// campaign spec's runs. One definition, so the two never drift.
type Flags struct {
	fs         *flag.FlagSet
	cfg        store.TestConfig
	nemesis    string
	timeLimit  time.Duration
	durations  map[string]*time.Duration
	seed       uint64
	seedSet    bool
	image      string
	replay     string
	Results    string
	HTMLAlways bool
}

// Spec-only flags are not keys of a campaign's runs.
var notSpecKeys = map[string]bool{"results": true, "replay": true}

// NewFlags defines the test flags on fs, with defaultBackend and
// defaultTime as the backend's and time limit's defaults.
func NewFlags(fs *flag.FlagSet, defaultBackend string, defaultTime time.Duration) *Flags {
	f := &Flags{fs: fs, durations: map[string]*time.Duration{}}
	fs.StringVar(&f.cfg.Backend, "backend", defaultBackend, "where the cluster runs: docker or sim")
	fs.StringVar(&f.cfg.Target, "target", "raftnode", "the system under test: raftnode, or etcd (docker backend only)")
	fs.StringVar(&f.cfg.EtcdReads, "etcd-reads", "", "target etcd: read mode, linearizable (default) or serializable (may be stale)")
	fs.IntVar(&f.cfg.PipelinedConns, "pipelined-conns", 0, "target raftnode on docker: the clients share this many pipelined HTTP/1.1 connections per node for reads and as many for writes (0: a net/http connection per client)")
	fs.IntVar(&f.cfg.Nodes, "nodes", 5, "cluster size")
	fs.StringVar(&f.cfg.Workload, "workload", "register", "the workload: register (read, write, cas on rotating keys)")
	fs.StringVar(&f.nemesis, "nemesis", "partition,kill,pause", "faults to inject: any of "+joinKinds()+" (all: "+strings.Join(nemesis.Kinds, ",")+"), or none; also, not in all: "+strings.Join(nemesis.ExtraKinds, ",")+" (torn-tail, flip-byte: docker and raftnode only)")
	fs.DurationVar(&f.timeLimit, "time-limit", defaultTime, "how long the workload and fault phase runs")
	fs.IntVar(&f.cfg.Concurrency, "concurrency", 10, "concurrent client processes")
	fs.Float64Var(&f.cfg.Rate, "rate", 200, "operations per second across all clients")
	fs.IntVar(&f.cfg.OpsPerKey, "ops-per-key", 0, "operations on one key before it is retired (default 200; fewer keep the check fast when many outcomes are unknown)")
	fs.Func("seed", "random seed (default: chosen and printed)", func(s string) error {
		_, err := fmt.Sscan(s, &f.seed)
		f.seedSet = true
		return err
	})
	fs.StringVar(&f.cfg.Unsafe, "unsafe", "", "DANGER: run the target with deliberate bugs, to prove the checker catches them")
	f.duration("check-timeout", 5*time.Minute, "bound on the linearizability check; past it the verdict is unknown")
	f.duration("nemesis-interval", 0, "how long each fault lasts, quiet half as long between (default: docker 5s; sim drawn from the seed)")
	f.duration("client-timeout", 0, "one attempt of an operation; past it a write is retried or info (default 1s; sim 3s under the Figure 8 choreography)")
	f.duration("election-timeout", 0, "the nodes' election timeout (default: docker 500ms, sim 300ms; etcd: heartbeat a tenth of it)")
	f.duration("recovery", 0, "bound on the wait for a leader at start and after the final heal (default 30s)")
	fs.IntVar(&f.cfg.Retries, "retries", 0, "retries of an indefinite write with its session at the next node; -1 none (default 2; etcd -1)")
	fs.StringVar(&f.image, "image", "", "docker backend: the nodes' image (default raftcheck/raftnode:dev, or raftcheck/etcd:dev; built when missing)")
	fs.StringVar(&f.Results, "results", "results", "directory of the results store")
	fs.BoolVar(&f.HTMLAlways, "html", false, "write the HTML view even for a valid history")
	fs.StringVar(&f.replay, "replay", "", "run a stored run again from its test.json (a run directory); other flags given override it (a new --seed draws the simulator's knobs anew)")
	return f
}

func (f *Flags) duration(name string, def time.Duration, usage string) {
	d := new(time.Duration)
	f.durations[name] = d
	f.fs.DurationVar(d, name, def, usage)
}

func joinKinds() string {
	s := ""
	for i, k := range nemesis.Kinds {
		if i > 0 {
			s += ","
		}
		s += k
	}
	return s
}

// SpecKeys are the flags a campaign spec's run may set.
func SpecKeys() []string {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	NewFlags(fs, "docker", time.Minute)
	var keys []string
	fs.VisitAll(func(fl *flag.Flag) {
		if !notSpecKeys[fl.Name] {
			keys = append(keys, fl.Name)
		}
	})
	return keys
}

// Request is a test to run: its configuration (not yet resolved by the
// backend) and the flags that are not part of it.
type Request struct {
	Config store.TestConfig
	// Image overrides the docker image (--image).
	Image string
	// SeedGiven reports whether the seed was chosen by the user.
	SeedGiven bool
	// Replayed is the run directory the configuration came from.
	Replayed string
}

// Request turns the parsed flags into a test. With --replay the stored
// test.json is the base and only the flags given on the command line
// change it.
func (f *Flags) Request() (Request, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.replay != "" {
		return f.replayRequest(set)
	}
	kinds, err := nemesis.ParseKinds(f.nemesis)
	if err != nil {
		return Request{}, fmt.Errorf("--nemesis: %w", err)
	}
	cfg := f.cfg
	cfg.Nemesis = kinds
	cfg.TimeLimit = store.Duration(f.timeLimit)
	f.setDurations(&cfg, nil)
	if !f.seedSet {
		f.seed = rand.Uint64() >> 12 // short enough to type
	}
	cfg.Seed = f.seed
	if cfg.Target == "etcd" && cfg.EtcdReads == "" {
		cfg.EtcdReads = string(workload.Linearizable)
	}
	cfg.Name = harness.Name(cfg)
	if err := harness.Validate(cfg); err != nil {
		return Request{}, err
	}
	return Request{Config: cfg, Image: f.image, SeedGiven: f.seedSet}, nil
}

// setDurations copies the duration flags into cfg: all of them, or with
// only those in only.
func (f *Flags) setDurations(cfg *store.TestConfig, only map[string]bool) {
	for name, d := range f.durations {
		if only != nil && !only[name] {
			continue
		}
		v := store.Duration(*d)
		switch name {
		case "check-timeout":
			cfg.CheckTimeout = v
		case "nemesis-interval":
			cfg.NemesisInterval = v
		case "client-timeout":
			cfg.ClientTimeout = v
		case "election-timeout":
			cfg.ElectionTimeout = v
		case "recovery":
			cfg.Recovery = v
		}
	}
}

func (f *Flags) replayRequest(set map[string]bool) (Request, error) {
	cfg, err := store.ReadTest(f.replay)
	if err != nil {
		return Request{}, fmt.Errorf("--replay: %w", err)
	}
	over := func(name string, apply func()) {
		if set[name] {
			apply()
		}
	}
	over("backend", func() { cfg.Backend = f.cfg.Backend })
	over("target", func() { cfg.Target = f.cfg.Target })
	over("etcd-reads", func() { cfg.EtcdReads = f.cfg.EtcdReads })
	over("pipelined-conns", func() { cfg.PipelinedConns = f.cfg.PipelinedConns })
	over("nodes", func() { cfg.Nodes = f.cfg.Nodes })
	over("workload", func() { cfg.Workload = f.cfg.Workload })
	over("time-limit", func() { cfg.TimeLimit = store.Duration(f.timeLimit) })
	over("concurrency", func() { cfg.Concurrency = f.cfg.Concurrency })
	over("rate", func() { cfg.Rate = f.cfg.Rate })
	over("ops-per-key", func() { cfg.OpsPerKey = f.cfg.OpsPerKey })
	over("unsafe", func() { cfg.Unsafe = f.cfg.Unsafe })
	over("retries", func() { cfg.Retries = f.cfg.Retries })
	if set["nemesis"] {
		kinds, err := nemesis.ParseKinds(f.nemesis)
		if err != nil {
			return Request{}, fmt.Errorf("--nemesis: %w", err)
		}
		cfg.Nemesis = kinds
	}
	if set["seed"] && f.seed != cfg.Seed {
		cfg.Seed = f.seed
		// The recorded knobs were drawn from the old seed.
		if cfg.Backend == "sim" {
			cfg.BackendConfig = nil
		}
	}
	if set["backend"] || set["target"] {
		cfg.BackendConfig = nil // another backend's settings mean nothing here
	}
	f.setDurations(&cfg, set)
	cfg.Name = harness.Name(cfg)
	if err := harness.Validate(cfg); err != nil {
		return Request{}, err
	}
	return Request{Config: cfg, Image: f.image, SeedGiven: true, Replayed: f.replay}, nil
}
