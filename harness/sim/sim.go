// Package sim runs a raftnode cluster in a deterministic simulator: the
// real node/replica, node/raft and node/kv code over a simulated network,
// disks and clients, in virtual time on one goroutine. A run is a pure
// function of its configuration: the same seed gives the same history,
// byte for byte.
package sim

import (
	"github.com/raftcheck/raftcheck/harness"

	"context"
	"fmt"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
	"github.com/raftcheck/raftcheck/workload"
)

// Config describes a simulated run.
type Config struct {
	Seed        uint64
	Nodes       int
	TimeLimit   time.Duration // the fault phase, in virtual time
	Concurrency int
	Rate        float64 // operations per second, across all clients
	Nemesis     []string
	// NemesisInterval is how long each fault lasts, and the quiet time
	// between faults is half of it.
	NemesisInterval time.Duration
	Net             NetConfig
	Tick            time.Duration
	Heartbeat       time.Duration
	ElectionTimeout time.Duration
	// ClientTimeout is how long a client waits for an answer before it
	// retries (writes) or gives up.
	ClientTimeout time.Duration
	// Reactive is the probability that the simulator strikes at a
	// fragile instant (a vote granted, an election won); see reactive.go.
	Reactive float64
	// MaxAppendBytes and MaxInflight tune replication (raft.Config):
	// small values split and pipeline appends, exposing commit rules.
	MaxAppendBytes, MaxInflight int
	// Retries is how often a client retries an indefinite write or cas
	// with the same session, so the node must deduplicate.
	Retries       int
	SnapshotEvery uint64
	// Vary draws unset tuning knobs from the seed; see Resolve.
	Vary bool
	// Figure8 replaces the clock-driven partitions by the choreography
	// of figure8.go.
	Figure8    bool
	Workload   workload.GeneratorConfig
	Unsafe     replica.Unsafe
	RaftUnsafe raft.Unsafe
}

// Resolve returns the configuration a run uses: with Vary, the knobs left
// unset are drawn from the seed (so each seed explores a different corner
// and the same seed always the same one), then defaults fill the rest.
func (c Config) Resolve() Config {
	if c.Vary {
		k := harness.Stream(c.Seed, "knobs")
		if c.MaxAppendBytes == 0 && k.IntN(3) == 0 {
			c.MaxAppendBytes = 1 // one entry per append
		}
		if c.MaxInflight == 0 {
			c.MaxInflight = []int{1, 4, 256}[k.IntN(3)]
		}
		if c.NemesisInterval == 0 {
			c.NemesisInterval = 300*time.Millisecond + time.Duration(k.Int64N(int64(3*time.Second)))
			if k.IntN(4) == 0 {
				// A storm: faults change faster than elections settle,
				// leaving divergent log tails everywhere.
				c.NemesisInterval = 50*time.Millisecond + time.Duration(k.Int64N(int64(250*time.Millisecond)))
			}
		}
		if c.Reactive == 0 {
			c.Reactive = []float64{0.02, 0.1, 0.3, 0.6}[k.IntN(4)]
		}
		if slices.Contains(c.Nemesis, "partition") && k.IntN(4) == 0 {
			c.Figure8 = true
			// One entry per append: a leader's first commit can then be
			// of inherited entries alone.
			c.MaxAppendBytes = 1
			if c.ClientTimeout == 0 {
				// Clients wait out the whole choreography, so the
				// commit at its end is acknowledged to them.
				c.ClientTimeout = 3 * time.Second
			}
		}
	}
	c.defaults()
	return c
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Nodes == 0 {
		c.Nodes = 5
	}
	if c.Concurrency == 0 {
		c.Concurrency = 10
	}
	if c.Rate == 0 {
		c.Rate = 200
	}
	def(&c.TimeLimit, 30*time.Second)
	def(&c.NemesisInterval, 3*time.Second)
	def(&c.Tick, 10*time.Millisecond)
	def(&c.Heartbeat, 50*time.Millisecond)
	def(&c.ElectionTimeout, 300*time.Millisecond)
	def(&c.ClientTimeout, time.Second)
	if c.Net == (NetConfig{}) {
		c.Net = DefaultNet
	}
	if c.Retries == 0 {
		c.Retries = 2
	}
	if c.SnapshotEvery == 0 {
		c.SnapshotEvery = 500
	}
}

// Stats describes what happened in a run besides the history.
type Stats struct {
	VirtualTime time.Duration
	Events      uint64 // simulator events executed
	Net         NetStats
	// NodeFailures lists nodes that stopped on an internal error.
	NodeFailures []string
	Faults       int
	Reactive     int
}

// Simulator is one run in progress.
type Simulator struct {
	cfg   Config
	ids   []raft.NodeID
	nodes []*simNode
	clock *clock
	net   *network
	rec   *workload.Recorder
	gen   *workload.Generator

	electionTick, heartbeatTick, requestTicks int
	clients                                   []*client
	stopClients                               bool
	nextProcess                               int
	faults                                    int
	react                                     *reactive
	// reactiveCut is set while a partition of the reactive nemesis is in
	// place; any clock-driven partition or heal replaces it.
	reactiveCut  bool
	fig8         *figure8
	figure8Armed bool
}

// Run executes a simulation and returns its history.
func Run(cfg Config) ([]checker.Event, Stats, error) {
	cfg = cfg.Resolve()
	if cfg.Nodes < 1 || cfg.Concurrency < 1 || cfg.Rate <= 0 {
		return nil, Stats{}, fmt.Errorf("sim: need nodes, concurrency and rate > 0")
	}
	s := &Simulator{cfg: cfg, clock: &clock{}}
	ticks := func(d time.Duration) int { return max(1, int(d/cfg.Tick)) }
	s.electionTick, s.heartbeatTick = ticks(cfg.ElectionTimeout), ticks(cfg.Heartbeat)
	s.requestTicks = ticks(2 * cfg.ClientTimeout)
	if s.electionTick <= s.heartbeatTick {
		return nil, Stats{}, fmt.Errorf("sim: election timeout %v must exceed heartbeat %v", cfg.ElectionTimeout, cfg.Heartbeat)
	}
	s.net = &network{cfg: cfg.Net, rng: harness.Stream(cfg.Seed, "network"), clock: s.clock}
	s.rec = workload.NewRecorder(func() int64 { return s.clock.now })
	s.gen = workload.NewGenerator(cfg.Workload, harness.Stream(cfg.Seed, "workload"))
	for i := range cfg.Nodes {
		s.ids = append(s.ids, raft.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	phase := harness.Stream(cfg.Seed, "tick-phase")
	for _, id := range s.ids {
		n := &simNode{id: id, s: s, disk: &memstore.Store{}}
		s.nodes = append(s.nodes, n)
		if err := n.boot(); err != nil {
			return nil, Stats{}, err
		}
		s.everyTick(phase.Int64N(int64(cfg.Tick)), n)
	}
	end := int64(cfg.TimeLimit)
	s.react = newReactive(s)
	s.startClients()
	if cfg.Figure8 {
		s.react.p = 0 // the choreography alone decides the partitions
		s.fig8 = newFigure8(s)
		s.fig8.start(end)
	} else {
		s.startNemesis(end)
	}
	s.clock.runUntil(end)

	// Heal everything, let the cluster recover, and read every key once
	// more: lost writes show up here.
	s.stopClients = true
	if err := nemesis.HealAll(context.Background(), faults{s}); err != nil {
		return nil, Stats{}, err
	}
	s.rec.Nemesis(checker.Info, "heal-all", nil)
	s.clock.runUntil(end + int64(2*time.Second+cfg.ClientTimeout*time.Duration(cfg.Retries+1)))
	s.finalReads()
	s.clock.runUntil(s.clock.now + int64(10*time.Second))

	st := Stats{VirtualTime: time.Duration(s.clock.now), Events: s.clock.ran, Net: s.net.stats,
		Faults: s.faults, Reactive: s.react.count}
	for _, n := range s.nodes {
		if n.failed != nil {
			st.NodeFailures = append(st.NodeFailures, fmt.Sprintf("%s: %v", n.id, n.failed))
		}
	}
	return s.rec.Events(), st, nil
}

// leaderAmong returns the running node of nodes that leads the highest
// term, or "".
func (s *Simulator) leaderAmong(nodes []string) string {
	best, term := "", uint64(0)
	for _, id := range nodes {
		n := s.node(raft.NodeID(id))
		if n.up && !n.paused {
			if st := n.rep.Status(); st.Role == "leader" && st.Term >= term {
				best, term = id, st.Term
			}
		}
	}
	return best
}

func (s *Simulator) node(id raft.NodeID) *simNode {
	i := slices.Index(s.ids, id)
	if i < 0 {
		return nil
	}
	return s.nodes[i]
}

func (s *Simulator) everyTick(offset int64, n *simNode) {
	var tick func()
	tick = func() {
		n.tick()
		s.clock.after(int64(s.cfg.Tick), tick)
	}
	s.clock.after(offset, tick)
}

// startNemesis schedules faults until end: a fault, NemesisInterval of
// it, its recovery, half an interval of quiet, and so on.
func (s *Simulator) startNemesis(end int64) {
	sched := nemesis.NewSchedule(s.cfg.Nemesis, faults{s}.Nodes(), harness.Stream(s.cfg.Seed, "nemesis"))
	if sched.Empty() {
		return
	}
	interval := int64(s.cfg.NemesisInterval)
	var next func()
	next = func() {
		if s.clock.now+interval > end {
			return
		}
		leader, _ := faults{s}.Leader(context.Background())
		fault, recovery := sched.Next(leader)
		s.act(fault)
		s.faults++
		s.clock.after(interval, func() {
			s.act(recovery)
			s.clock.after(interval/2, next)
		})
	}
	s.clock.after(interval/2, next)
}

func (s *Simulator) act(a nemesis.Action) {
	if a.F == "partition" || a.F == "heal" {
		s.reactiveCut = false
	}
	s.rec.Nemesis(checker.Invoke, a.F, a.Describe())
	if err := nemesis.Apply(context.Background(), faults{s}, a); err != nil {
		s.rec.Nemesis(checker.Info, a.F, checker.StringValue(err.Error()))
		return
	}
	s.rec.Nemesis(checker.Info, a.F, a.Describe())
}
