package raft_test

import (
	"fmt"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// TestRandomized drives clusters through random message loss,
// duplication, reordering, partitions, crashes with restarts, and log
// compaction; the shared invariant checker (node/raft/invariant) looks
// at every node after every step, and every ReadIndex answer must cover
// everything committed before the read was asked (§6.4). At the end, with
// the faults healed, the cluster must converge.
func TestRandomized(t *testing.T) {
	seeds, steps := 300, 3000
	if testing.Short() {
		seeds, steps = 40, 2000
	}
	for seed := range uint64(seeds) {
		n := 3 + 2*int(seed%2)
		t.Run(fmt.Sprintf("seed=%d/nodes=%d", seed, n), func(t *testing.T) {
			if e := randomRun(seed, n, steps, defaultConfig(), steady); e.err != nil {
				t.Fatal(e.err)
			}
			// The mix that finds the unsafe modes must find nothing here.
			if e := randomRun(seed, n, steps, oneEntryPerAppend(), churn); e.err != nil {
				t.Fatalf("churn: %v", e.err)
			}
		})
	}
}

// faultMix weighs the random run's actions, in percent of steps
// (cumulative thresholds, in this order), and the fate of delivered
// messages.
type faultMix struct {
	deliver, tick, propose, read, partition, crash, compact int
	lossPct, dupPct                                         int
	// leaderPct of crashes and partitions aim at the current leader.
	leaderPct int
}

// steady is the default mix: mostly delivery and ticks, rare faults.
var steady = faultMix{deliver: 45, tick: 75, propose: 85, read: 90, partition: 91, crash: 92, compact: 94, lossPct: 10, dupPct: 5}

// churn changes leaders often and leaves logs half replicated: the
// ground on which Figure 8 style bugs (commit-prior-term) show.
var churn = faultMix{deliver: 40, tick: 70, propose: 84, read: 87, partition: 92, crash: 96, compact: 98, lossPct: 20, dupPct: 5, leaderPct: 50}

func randomRun(seed uint64, n, steps int, cfg envConfig, mix faultMix) *env {
	e := newEnv(n, cfg, seed)
	rng := e.rng
	reads, proposals := 0, 0
	for step := 0; step < steps && e.err == nil; step++ {
		id := e.ids[rng.IntN(n)]
		p := rng.IntN(100)
		if l := e.leader(); l != raft.None && p >= mix.read && p < mix.crash && rng.IntN(100) < mix.leaderPct {
			id = l
		}
		switch {
		case p < mix.deliver && len(e.net) > 0:
			i := rng.IntN(len(e.net)) // any pending message: reordering
			m := e.net[i]
			switch q := rng.IntN(100); {
			case q < mix.lossPct: // lost
				e.net = append(e.net[:i], e.net[i+1:]...)
			case q < mix.lossPct+mix.dupPct: // duplicated: deliver and keep
				e.deliver(m)
			default:
				e.net = append(e.net[:i], e.net[i+1:]...)
				e.deliver(m)
			}
		case p < mix.tick:
			e.tick(id)
		case p < mix.propose:
			proposals++
			e.propose(id, fmt.Sprintf("p%d", proposals))
		case p < mix.read:
			reads++
			e.readIndex(id, fmt.Sprintf("r%d", reads))
		case p < mix.partition:
			e.heal()
			switch {
			case rng.IntN(100) < mix.leaderPct:
				e.partition([]raft.NodeID{id}, others(e.ids, id))
			case rng.IntN(3) == 0:
				perm := rng.Perm(n)
				cutAt := 1 + rng.IntN(n-1)
				var a, b []raft.NodeID
				for j, k := range perm {
					if j < cutAt {
						a = append(a, e.ids[k])
					} else {
						b = append(b, e.ids[k])
					}
				}
				e.partition(a, b)
			}
		case p < mix.crash:
			// Crash a node while a quorum stays up; otherwise restart one.
			down := 0
			for _, o := range e.ids {
				if e.nodes[o].down {
					down++
				}
			}
			if !e.nodes[id].down && down < (n-1)/2 {
				e.crash(id, 0)
			} else {
				for _, o := range e.ids {
					if e.nodes[o].down {
						e.start(o)
						break
					}
				}
			}
		case p < mix.compact:
			e.compact(id)
		}
	}
	if e.err != nil {
		return e
	}
	// Heal everything: the cluster must elect a leader and converge.
	e.heal()
	for _, id := range e.ids {
		if e.nodes[id].down {
			e.start(id)
		}
	}
	for range 60 {
		for _, id := range e.ids {
			e.tick(id)
		}
		if err := e.stabilize(); err != nil {
			e.fail(err)
		}
	}
	l := e.leader()
	if l == raft.None {
		e.fail(fmt.Errorf("no leader after healing"))
		return e
	}
	e.propose(l, "final")
	if err := e.stabilize(); err != nil {
		e.fail(err)
	}
	for range 10 {
		for _, id := range e.ids {
			e.tick(id)
		}
		if err := e.stabilize(); err != nil {
			e.fail(err)
		}
	}
	want := len(e.nodes[l].applied)
	for _, id := range e.ids {
		if got := len(e.nodes[id].applied); got != want {
			e.fail(fmt.Errorf("after healing %s applied %d entries, leader %s %d", id, got, l, want))
		}
	}
	return e
}

// oneEntryPerAppend sends entries one per append, so a new leader brings
// a follower its predecessors' entries before its own no-op: the window
// in which counting replicas of an old-term entry is unsafe (Figure 8).
func oneEntryPerAppend() envConfig {
	cfg := defaultConfig()
	cfg.maxMsgSize = 1
	return cfg
}

// TestRandomizedCatchesUnsafe shows the shared checker has teeth: each
// unsafe mode of the core breaks an invariant within a bounded number of
// seeds.
func TestRandomizedCatchesUnsafe(t *testing.T) {
	modes := map[string]func(*envConfig){
		"vote-any-log":       func(c *envConfig) { c.unsafe.VoteAnyLog = true },
		"commit-prior-term":  func(c *envConfig) { c.unsafe.CommitPriorTerm = true },
		"forget-vote":        func(c *envConfig) { c.forgetVote = true },
		"ack-before-persist": func(c *envConfig) { c.loseTail = 2 },
	}
	for _, name := range []string{"vote-any-log", "commit-prior-term", "forget-vote", "ack-before-persist"} {
		t.Run(name, func(t *testing.T) {
			cfg := oneEntryPerAppend()
			modes[name](&cfg)
			for seed := range uint64(2000) {
				if e := randomRun(seed, 3+2*int(seed%2), 3000, cfg, churn); e.err != nil {
					t.Logf("seed %d: %v", seed, e.err)
					return
				}
			}
			t.Fatalf("%s: no invariant broke in 2000 seeds", name)
		})
	}
}

func others(ids []raft.NodeID, id raft.NodeID) []raft.NodeID {
	var out []raft.NodeID
	for _, o := range ids {
		if o != id {
			out = append(out, o)
		}
	}
	return out
}
