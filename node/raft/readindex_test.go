package raft

import "testing"

// Thesis §6.4: a leader serves a read at its commit index only after a
// quorum confirmed it still leads, in a heartbeat round begun after the
// read arrived. Acknowledgements of an earlier round prove nothing about
// the time after the read arrived, even when that round was for a read
// with the same context: contexts come from the clients of each node, so
// two nodes may well pick the same one, and the network may deliver an
// old acknowledgement late.
func TestThesis6_4ReadIndexIgnoresAcksOfAnEarlierRound(t *testing.T) {
	c := newCluster(t, 5, 31)
	c.elect("n1")
	c.propose("n1", "w0")
	c.flush()

	// n4 reads with context "x"; n2's and n3's acknowledgements of that
	// round are duplicated by the network, the copies delayed.
	c.nodes["n4"].rn.ReadIndex([]byte("x"))
	c.process("n4")
	var late []Message
	for len(c.inbox) > 0 {
		m := c.inbox[0]
		c.inbox = c.inbox[1:]
		if m.Type == MsgHeartbeatResp && len(m.Context) > 0 && (m.From == "n2" || m.From == "n3") {
			late = append(late, m)
		}
		c.deliver(m)
	}
	if rs := c.nodes["n4"].reads; len(rs) != 1 {
		t.Fatalf("setup: n4's read not answered: %v", rs)
	}
	if len(late) != 2 {
		t.Fatalf("setup: %d acknowledgements saved, want 2", len(late))
	}

	// n1 and n5 are cut off; the majority elects n2 and commits w.
	c.partition([]NodeID{"n1", "n5"}, []NodeID{"n2", "n3", "n4"})
	c.elect("n2")
	c.propose("n2", "w")
	c.flush()
	floor := uint64(len(c.committed)) // w is applied: a read begun now must see it
	if st := c.nodes["n2"].rn.Status(); st.Applied < floor || floor < 4 {
		t.Fatalf("setup: w not committed by n2: %+v, floor %d", st, floor)
	}

	// n5 still follows n1 and happens to use context "x" too. n1, deposed
	// without knowing it, queues the read at its stale commit index.
	c.nodes["n5"].rn.ReadIndex([]byte("x"))
	c.process("n5")
	c.flush()
	// The delayed acknowledgements of n4's read arrive.
	for _, m := range late {
		if err := c.nodes["n1"].rn.Step(m); err != nil {
			t.Fatal(err)
		}
		c.process("n1")
	}
	c.flush()
	for _, rs := range c.nodes["n5"].reads {
		if rs.Index < floor {
			t.Fatalf("stale read: deposed n1 answered n5's read at index %d, but index %d was committed (and applied) before the read began", rs.Index, floor)
		}
	}
}
