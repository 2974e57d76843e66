package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// memDisk is what a test node has persisted: exactly what survives a crash.
type memDisk struct {
	hs   HardState
	snap Snapshot
	ents []Entry
}

func (d *memDisk) save(rd Ready) {
	if !rd.Snapshot.IsEmpty() {
		d.snap = rd.Snapshot
		d.ents = nil
	}
	if !rd.HardState.IsEmpty() {
		d.hs = rd.HardState
	}
	for _, e := range rd.Entries {
		first := d.snap.Meta.Index + 1
		d.ents = append(d.ents[:e.Index-first], e)
	}
}

// testNode is a RawNode with its disk and applied state machine (a list
// of applied entry data).
type testNode struct {
	id      NodeID
	rn      *RawNode
	disk    memDisk
	applied []Entry // index i holds log index i+1; snapshot contents included
	down    bool
	reads   []ReadState
	dropped [][]byte
}

// cluster runs test nodes over an in-memory network in one goroutine, for
// the tests that need the core's internals.
type cluster struct {
	t     *testing.T
	rng   *rand.Rand
	ids   []NodeID
	nodes map[NodeID]*testNode
	inbox []Message
	cut   map[[2]NodeID]bool
	// committed is the longest sequence of entries any node applied.
	committed []Entry
}

func newCluster(t *testing.T, n int, seed uint64) *cluster {
	c := &cluster{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e37)), nodes: map[NodeID]*testNode{},
		cut: map[[2]NodeID]bool{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, NodeID(fmt.Sprintf("n%d", i)))
	}
	for _, id := range c.ids {
		c.nodes[id] = &testNode{id: id}
		c.start(id)
	}
	return c
}

func (c *cluster) config(id NodeID) Config {
	d := &c.nodes[id].disk
	return Config{ID: id, Peers: c.ids, ElectionTick: 10, HeartbeatTick: 1,
		Rand:      rand.New(rand.NewPCG(c.rng.Uint64(), 1)),
		HardState: d.hs, Snapshot: d.snap, Entries: slices.Clone(d.ents),
		Applied: d.snap.Meta.Index, MaxSizePerMsg: 64, MaxInflight: 4}
}

func (c *cluster) start(id NodeID) {
	tn := c.nodes[id]
	rn, err := NewRawNode(c.config(id))
	if err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	tn.rn, tn.down = rn, false
	// The state machine restarts from the snapshot image.
	tn.applied = slices.Clone(tn.applied[:tn.disk.snap.Meta.Index])
}

func (c *cluster) crash(id NodeID) { c.nodes[id].down = true }

// process carries out every pending Ready of a node.
func (c *cluster) process(id NodeID) {
	tn := c.nodes[id]
	for !tn.down && tn.rn.HasReady() {
		rd := tn.rn.Ready()
		tn.disk.save(rd)
		c.inbox = append(c.inbox, rd.Messages...)
		if !rd.Snapshot.IsEmpty() {
			tn.applied = slices.Clone(c.committed[:rd.Snapshot.Meta.Index])
		}
		for _, e := range rd.CommittedEntries {
			if uint64(len(tn.applied))+1 != e.Index {
				c.t.Fatalf("%s applies %d after %d", id, e.Index, len(tn.applied))
			}
			tn.applied = append(tn.applied, e)
		}
		tn.reads = append(tn.reads, rd.ReadStates...)
		tn.dropped = append(tn.dropped, rd.DroppedReads...)
		tn.rn.Advance()
		if err := tn.rn.Err(); err != nil {
			c.t.Fatalf("%s: %v", id, err)
		}
		c.record(id)
	}
}

// record keeps the longest sequence of entries any node applied. The
// invariants themselves are checked by node/raft/invariant, in the
// external tests (env_test.go); these internal tests assert their own
// expectations.
func (c *cluster) record(id NodeID) {
	if a := c.nodes[id].applied; len(a) > len(c.committed) {
		c.committed = slices.Clone(a)
	}
}

func (c *cluster) deliver(m Message) {
	tn := c.nodes[m.To]
	if tn == nil || tn.down || c.cut[[2]NodeID{m.From, m.To}] {
		return
	}
	if err := tn.rn.Step(m); err != nil {
		c.t.Fatalf("step: %v", err)
	}
	c.process(m.To)
}

// flush delivers messages until the network is quiet.
func (c *cluster) flush() {
	for i := 0; len(c.inbox) > 0; i++ {
		if i > 100000 {
			c.t.Fatal("network does not go quiet")
		}
		m := c.inbox[0]
		c.inbox = c.inbox[1:]
		c.deliver(m)
	}
}

func (c *cluster) tick(id NodeID) {
	if tn := c.nodes[id]; !tn.down {
		tn.rn.Tick()
		c.process(id)
	}
}

func (c *cluster) tickAll(n int) {
	for range n {
		for _, id := range c.ids {
			c.tick(id)
		}
		c.flush()
	}
}

func (c *cluster) isolate(id NodeID) {
	for _, o := range c.ids {
		if o != id {
			c.cut[[2]NodeID{id, o}] = true
			c.cut[[2]NodeID{o, id}] = true
		}
	}
}

// partition cuts every link between different groups.
func (c *cluster) partition(groups ...[]NodeID) {
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					c.cut[[2]NodeID{a, b}] = true
				}
			}
		}
	}
}

func (c *cluster) heal() { c.cut = map[[2]NodeID]bool{} }

func (c *cluster) leader() NodeID {
	for _, id := range c.ids {
		if tn := c.nodes[id]; !tn.down && tn.rn.Status().State == StateLeader {
			return id
		}
	}
	return None
}

// elect makes id campaign and lets the network settle.
func (c *cluster) elect(id NodeID) {
	c.expireLeases()
	c.nodes[id].rn.Campaign()
	c.process(id)
	c.flush()
	if c.nodes[id].rn.Status().State != StateLeader {
		c.t.Fatalf("%s did not win the election: %+v", id, c.nodes[id].rn.Status())
	}
}

// expireLeases makes every live node behave as if an election timeout
// passed without word from a leader, as when the leader was cut off.
func (c *cluster) expireLeases() {
	for _, id := range c.ids {
		if tn := c.nodes[id]; !tn.down {
			tn.rn.r.electionElapsed = tn.rn.r.electionTick
		}
	}
}

func (c *cluster) propose(id NodeID, data string) (uint64, error) {
	idx, _, err := c.nodes[id].rn.Propose([]byte(data))
	c.process(id)
	return idx, err
}
