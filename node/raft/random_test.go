package raft

import (
	"fmt"
	"testing"
)

// TestRandomized drives clusters through random message loss,
// duplication, reordering, partitions, crashes with restarts, and log
// compaction, checking after every step Election Safety, Log Matching and
// State Machine Safety (cluster.check), and that every ReadIndex answer
// covers every entry applied anywhere before the read was asked (§6.4:
// that is what makes the read linearizable). At the end, with the faults
// healed, the cluster must converge.
func TestRandomized(t *testing.T) {
	seeds, steps := 300, 3000
	if testing.Short() {
		seeds, steps = 40, 2000
	}
	for seed := range uint64(seeds) {
		n := 3 + 2*int(seed%2)
		t.Run(fmt.Sprintf("seed=%d/nodes=%d", seed, n), func(t *testing.T) {
			randomRun(t, seed, n, steps)
		})
	}
}

func randomRun(t *testing.T, seed uint64, n, steps int, unsafe ...func(*cluster)) *cluster {
	c := newCluster(t, n, seed)
	for _, u := range unsafe {
		u(c)
		c.collect = true
		for _, id := range c.ids {
			c.start(id)
		}
	}
	rng := c.rng
	readFloor := map[string]int{} // read ctx -> entries applied when asked
	reads := 0
	checkReads := func(id NodeID) {
		tn := c.nodes[id]
		for _, rs := range tn.reads {
			floor, ok := readFloor[string(rs.RequestCtx)]
			if !ok {
				t.Fatalf("%s: read state for unknown ctx %q", id, rs.RequestCtx)
			}
			if rs.Index < uint64(floor) {
				t.Fatalf("linearizable read (§6.4): %s read at index %d, but %d entries were applied before the read began", id, rs.Index, floor)
			}
		}
		tn.reads = nil
	}
	proposals := 0
	for step := 0; step < steps; step++ {
		id := c.ids[rng.IntN(n)]
		switch p := rng.IntN(100); {
		case p < 45 && len(c.inbox) > 0:
			i := rng.IntN(len(c.inbox)) // any pending message: reordering
			m := c.inbox[i]
			switch q := rng.IntN(100); {
			case q < 10: // lost
				c.inbox = append(c.inbox[:i], c.inbox[i+1:]...)
			case q < 15: // duplicated: deliver and keep
				c.deliver(m)
			default:
				c.inbox = append(c.inbox[:i], c.inbox[i+1:]...)
				c.deliver(m)
			}
		case p < 75:
			c.tick(id)
		case p < 85:
			if !c.nodes[id].down {
				proposals++
				c.propose(id, fmt.Sprintf("p%d", proposals))
			}
		case p < 90:
			if !c.nodes[id].down {
				reads++
				ctx := fmt.Sprintf("r%d", reads)
				readFloor[ctx] = len(c.committed)
				c.nodes[id].rn.ReadIndex([]byte(ctx))
				c.process(id)
			}
		case p < 91:
			c.heal()
			if rng.IntN(3) == 0 {
				perm := rng.Perm(n)
				cutAt := 1 + rng.IntN(n-1)
				var a, b []NodeID
				for j, k := range perm {
					if j < cutAt {
						a = append(a, c.ids[k])
					} else {
						b = append(b, c.ids[k])
					}
				}
				c.partition(a, b)
			}
		case p < 92:
			// Crash a node while a quorum stays up; otherwise restart one.
			down := 0
			for _, o := range c.ids {
				if c.nodes[o].down {
					down++
				}
			}
			if !c.nodes[id].down && down < (n-1)/2 {
				c.crash(id)
			} else {
				for _, o := range c.ids {
					if c.nodes[o].down {
						c.start(o)
						break
					}
				}
			}
		case p < 94:
			if !c.nodes[id].down {
				c.compact(id)
			}
		}
		for _, id := range c.ids {
			checkReads(id)
		}
		if len(c.violations) > 0 {
			return c
		}
	}
	// Heal everything: the cluster must elect a leader and converge.
	c.heal()
	for _, id := range c.ids {
		if c.nodes[id].down {
			c.start(id)
		}
	}
	c.tickAll(60)
	l := c.leader()
	if l == None {
		c.violation("no leader after healing")
		return c
	}
	c.propose(l, "final")
	c.flush()
	c.tickAll(10)
	want := len(c.nodes[l].applied)
	for _, id := range c.ids {
		if got := len(c.nodes[id].applied); got != want {
			c.violation("after healing %s applied %d entries, leader %s %d", id, got, l, want)
		}
	}
	return c
}

// TestRandomizedCatchesUnsafe shows the invariants above have teeth: each
// unsafe mode of the core breaks one within a bounded number of seeds.
func TestRandomizedCatchesUnsafe(t *testing.T) {
	modes := map[string]func(*cluster){
		"vote-any-log":      func(c *cluster) { c.unsafe.VoteAnyLog = true },
		"commit-prior-term": func(c *cluster) { c.unsafe.CommitPriorTerm = true },
		"forget-vote":       func(c *cluster) { c.forgetVote = true },
	}
	for _, name := range []string{"vote-any-log", "commit-prior-term", "forget-vote"} {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(2000) {
				c := randomRun(t, seed, 3+2*int(seed%2), 3000, modes[name])
				if len(c.violations) > 0 {
					t.Logf("seed %d: %s", seed, c.violations[0])
					return
				}
			}
			t.Fatalf("%s: no invariant broke in 2000 seeds", name)
		})
	}
}
