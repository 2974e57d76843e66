// Package sim is the simulator backend: a raftnode cluster run by the
// real node/replica, node/raft and node/kv code over a simulated network,
// disks and clock, in virtual time. The engine (package harness) drives
// it as it drives containers; here its processes run one at a time on
// the virtual clock (runtime.go), so a run is a pure function of its
// test.json: the same configuration gives the same history, byte for
// byte.
package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/raft/invariant"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
)

// Stats describes what happened in a run besides the history.
type Stats struct {
	VirtualTime time.Duration
	Events      uint64 // simulator events executed
	Net         NetStats
	// NodeFailures lists nodes that stopped on an internal error.
	NodeFailures []string
	Reactive     int
	Figure8      int // rounds of the choreography
}

// Simulator is a simulated cluster: the sim backend of the engine.
type Simulator struct {
	tc      store.TestConfig
	knobs   Knobs
	unsafe  replica.Unsafe
	rUnsafe raft.Unsafe
	ids     []raft.NodeID
	nodes   []*simNode
	clock   *clock
	rt      *runtime
	net     *network

	electionTick, heartbeatTick, requestTicks int
	// act is the engine's: every fault of the simulator's own nemeses is
	// recorded as the clock-driven ones are. Nil outside the workload
	// phase, when they strike no more.
	act   func(nemesis.Action)
	react *reactive
	// reactiveCut is set while a partition of the reactive nemesis is in
	// place; any clock-driven partition or heal replaces it.
	reactiveCut  bool
	fig8         *figure8
	figure8Armed bool
	confStrike   *confStrike
	// chk checks Raft's invariants after every step of every node;
	// violation is the first it found.
	chk       *invariant.Checker
	violation error
	// ended is set when the workload phase is over.
	ended bool
	// memberBusy is set while a membership change is under way; changes
	// are those not yet reported by Evidence (membership.go).
	memberBusy bool
	changes    []memberChange
}

var _ harness.Backend = (*Simulator)(nil)

// New builds the cluster of a resolved configuration (Resolve) and boots
// its nodes at virtual time 0.
func New(tc store.TestConfig) (*Simulator, error) {
	k, err := complete(tc)
	if err != nil {
		return nil, err
	}
	u, ru, err := replica.ParseUnsafe(tc.Unsafe)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if tc.Nodes < 1 {
		return nil, fmt.Errorf("sim: need at least one node")
	}
	s := &Simulator{tc: tc, knobs: k, unsafe: u, rUnsafe: ru, clock: &clock{}}
	s.rt = newRuntime(s.clock)
	ticks := func(d store.Duration) int { return max(1, int(d/k.Tick)) }
	s.electionTick, s.heartbeatTick = ticks(tc.ElectionTimeout), ticks(k.Heartbeat)
	s.requestTicks = ticks(2 * tc.ClientTimeout)
	s.net = &network{cfg: k.Net, rng: harness.Stream(tc.Seed, "network"), clock: s.clock}
	for i := range tc.Nodes {
		s.ids = append(s.ids, raft.NodeID(fmt.Sprintf("n%d", i+1)))
	}
	s.react = newReactive(s)
	s.chk = invariant.New(s.ids...)
	phase := harness.Stream(tc.Seed, "tick-phase")
	for i, id := range s.ids {
		n := &simNode{name: string(id), slot: i, id: id, s: s, disk: &memstore.Store{}}
		s.nodes = append(s.nodes, n)
		if err := n.boot(); err != nil {
			return nil, err
		}
		s.everyTick(phase.Int64N(int64(k.Tick)), n)
	}
	return s, nil
}

// Knobs returns the knobs the simulator runs with.
func (s *Simulator) Knobs() Knobs { return s.knobs }

// Stats reports what happened so far.
func (s *Simulator) Stats() Stats {
	st := Stats{VirtualTime: time.Duration(s.clock.now), Events: s.clock.ran, Net: s.net.stats, Reactive: s.react.count}
	if s.fig8 != nil {
		st.Figure8 = s.fig8.rounds
	}
	for _, n := range s.nodes {
		if n.failed != nil {
			st.NodeFailures = append(st.NodeFailures, fmt.Sprintf("%s: %v", n.id, n.failed))
		}
	}
	return st
}

func (s *Simulator) Runtime() harness.Runtime { return s.rt }

// Begin arms the simulator's own nemeses: reactive strikes, or the
// Figure 8 choreography instead of the clock-driven schedule.
func (s *Simulator) Begin(act func(nemesis.Action)) bool {
	s.act = act
	if len(s.tc.Schedule) > 0 {
		s.react.p = 0 // an explicit schedule is the whole nemesis
		return false
	}
	if !s.knobs.Figure8 {
		if s.knobs.ConfStrike && slices.Contains(s.tc.Nemesis, "membership") && len(s.ids) >= 5 {
			s.react.p = 0 // the choreography alone decides
			s.confStrike = newConfStrike(s)
			s.confStrike.start()
			return false
		}
		return true
	}
	s.react.p = 0 // the choreography alone decides the partitions
	s.fig8 = newFigure8(s)
	s.fig8.start()
	return false
}

// End stops the simulator's own nemeses from starting anything new; the
// recoveries of strikes in progress still run.
func (s *Simulator) End() {
	s.react.p = 0
	s.ended = true
}

// strike applies an action of the simulator's own nemeses, if the
// workload phase is on.
func (s *Simulator) strike(a nemesis.Action) {
	if s.memberBusy {
		// The nemesis acts one action at a time, and a membership change
		// takes time: this one waits for it.
		s.clock.after(int64(time.Millisecond), func() { s.strike(a) })
		return
	}
	if a.F == "partition" || a.F == "heal" {
		s.reactiveCut = false
	}
	if s.act != nil {
		s.act(a)
	}
}

// Violation is the first Raft invariant the run broke, nil if none. A
// node that stopped itself on an internal error (raftnode exits on one:
// its log or state contradicts what it was sent) counts too: a correct
// cluster never drives a node there.
func (s *Simulator) Violation() error {
	if s.violation != nil {
		return s.violation
	}
	for _, n := range s.nodes {
		if n.failed != nil {
			return fmt.Errorf("node %s stopped itself: %w", n.id, n.failed)
		}
	}
	return nil
}

// checked records the first invariant violation; later ones are its
// consequences.
func (s *Simulator) checked(err error) {
	if err != nil && s.violation == nil {
		s.violation = fmt.Errorf("at %v: %w", time.Duration(s.clock.now), err)
	}
}

// leader applies the engine's leader rule to the nodes' own views.
func (s *Simulator) leader() string {
	nodes := s.Nodes()
	sts := make([]harness.NodeStatus, len(nodes))
	ok := make([]bool, len(nodes))
	for i, n := range s.nodes {
		sts[i], ok[i] = n.status()
	}
	return harness.LeaderOf(nodes, sts, ok)
}

// node finds the slot hosting member id now; nil if none does.
func (s *Simulator) node(id raft.NodeID) *simNode {
	for _, n := range s.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// slotOf names the slot hosting member id ("" for no member), or the
// ID itself if no slot hosts it any more.
func (s *Simulator) slotOf(id raft.NodeID) string {
	if n := s.node(id); n != nil {
		return n.name
	}
	return string(id)
}

func (s *Simulator) everyTick(offset int64, n *simNode) {
	var tick func()
	tick = func() {
		n.tick()
		s.clock.after(int64(s.knobs.Tick), tick)
	}
	s.clock.after(offset, tick)
}
