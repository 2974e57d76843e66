package sim

import (
	"github.com/raftcheck/raftcheck/harness"

	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
)

// reactive strikes at the instants where Raft is most fragile, which a
// clock-driven nemesis hits only by luck: right after a node grants a
// vote (crash and restart it at once: did it persist the vote?), right
// after a node wins an election (crash it or cut it off before its no-op
// spreads, leaving divergent tails behind), and at a new leader's first
// commit (cut it off while that commit's news is in flight: whatever it
// committed must survive without it; Figure 8 is about this moment).
// One reactive fault at a time, so the cluster still makes progress.
type reactive struct {
	s      *Simulator
	rng    *rand.Rand
	p      float64
	kill   bool
	cut    bool
	active bool
	count  int
}

func newReactive(s *Simulator) *reactive {
	return &reactive{s: s, rng: harness.Stream(s.tc.Seed, "reactive"), p: s.knobs.Reactive,
		kill: slices.Contains(s.tc.Nemesis, "kill"), cut: slices.Contains(s.tc.Nemesis, "partition")}
}

func (r *reactive) ready() bool {
	return r.p > 0 && !r.active && r.s.act != nil && !r.s.memberBusy && r.rng.Float64() < r.p
}

// votedFor is called when node grants a vote.
func (r *reactive) votedFor(node string) {
	if !r.kill || !r.ready() {
		return
	}
	r.strike(0, time.Duration(r.rng.Int64N(int64(5*time.Millisecond))),
		nemesis.Action{F: "kill", Name: "crash-after-vote", Nodes: []string{node}},
		nemesis.Action{F: "start", Name: "crash-after-vote", Nodes: []string{node}})
}

// elected is called when node becomes leader.
func (r *reactive) elected(node string) {
	if !(r.kill || r.cut) || !r.ready() {
		return
	}
	delay := time.Duration(r.rng.Int64N(int64(3 * time.Millisecond)))
	hold := 20*time.Millisecond + time.Duration(r.rng.Int64N(int64(300*time.Millisecond)))
	if r.kill && (!r.cut || r.rng.IntN(2) == 0) {
		r.strike(delay, hold,
			nemesis.Action{F: "kill", Name: "crash-new-leader", Nodes: []string{node}},
			nemesis.Action{F: "start", Name: "crash-new-leader", Nodes: []string{node}})
		return
	}
	if r.s.net.grudge != nil {
		return // the clock-driven nemesis has a partition in place
	}
	r.s.reactiveCut = true
	r.strike(delay, hold,
		nemesis.Action{F: "partition", Name: "isolate-new-leader", Grudge: nemesis.Isolate(r.s.Nodes(), node)},
		nemesis.Action{F: "heal", Name: "isolate-new-leader"})
}

// firstCommit is called when a leader first advances its commit index
// in its term. The cut drops messages in flight, as a real partition
// does.
func (r *reactive) firstCommit(node string) {
	if !r.cut || r.s.net.grudge != nil || !r.ready() {
		return
	}
	hold := 200*time.Millisecond + time.Duration(r.rng.Int64N(int64(800*time.Millisecond)))
	r.s.reactiveCut = true
	r.strike(0, hold,
		nemesis.Action{F: "partition", Name: "isolate-at-first-commit", Grudge: nemesis.Isolate(r.s.Nodes(), node)},
		nemesis.Action{F: "heal", Name: "isolate-at-first-commit"})
}

// strike applies fault after delay and recovery after hold more. Both
// run as their own events: a hook fires inside a node's Process, which
// must finish first.
func (r *reactive) strike(delay, hold time.Duration, fault, recovery nemesis.Action) {
	r.active = true
	r.count++
	r.s.clock.after(int64(delay), func() {
		r.s.strike(fault)
		r.s.clock.after(int64(hold), func() {
			// Heal only our own cut: the clock-driven nemesis may have
			// replaced it meanwhile.
			if fault.F != "partition" || r.s.reactiveCut {
				r.s.strike(recovery)
			}
			r.active = false
		})
	})
}
