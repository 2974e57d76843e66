package raft

import "testing"

// With asynchronous storage writes a leader's own entries count toward
// commit only once the driver reports them durable.
func TestDurableGatesOwnCommit(t *testing.T) {
	n, err := NewRawNode(Config{ID: "n1", Peers: []NodeID{"n1"}, ElectionTick: 10, HeartbeatTick: 1,
		AsyncStorageWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Campaign()
	rd := n.Ready()
	n.Advance()
	if len(rd.Entries) != 1 || n.Status().Commit != 0 {
		t.Fatalf("leader's no-op: entries %v, commit %d; want it unstable and uncommitted", rd.Entries, n.Status().Commit)
	}
	noop := rd.Entries[0]
	for i := range 3 {
		if _, _, err := n.Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	rd = n.Ready()
	n.Advance()
	last := rd.Entries[len(rd.Entries)-1]
	n.Durable(noop.Index, noop.Term+1) // wrong term: proves nothing
	if c := n.Status().Commit; c != 0 {
		t.Fatalf("commit %d after a durable report of an entry we do not hold", c)
	}
	n.Durable(noop.Index, noop.Term)
	if c := n.Status().Commit; c != noop.Index {
		t.Fatalf("commit %d, want %d once the no-op is durable", c, noop.Index)
	}
	n.Durable(last.Index, last.Term)
	if c := n.Status().Commit; c != last.Index {
		t.Fatalf("commit %d, want %d once everything is durable", c, last.Index)
	}
}

// A truncation takes back what was reported durable: entries that replace
// it are not on disk yet.
func TestTruncationTakesBackDurable(t *testing.T) {
	var l raftLog
	l.append(Entry{Index: 1, Term: 1}, Entry{Index: 2, Term: 1}, Entry{Index: 3, Term: 1})
	l.durable = 3
	l.append(Entry{Index: 2, Term: 2})
	if l.durable != 1 {
		t.Fatalf("durable %d after truncation at 2, want 1", l.durable)
	}
}

// Proposals arriving together leave as one append per follower.
func TestProposalsShareOneAppend(t *testing.T) {
	n, err := NewRawNode(Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTick: 10, HeartbeatTick: 1,
		DisablePreVote: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Campaign()
	n.Ready()
	n.Advance()
	for _, id := range []NodeID{"n2", "n3"} {
		if err := n.Step(Message{Type: MsgVoteResp, From: id, To: "n1", Term: 1}); err != nil {
			t.Fatal(err)
		}
	}
	n.Ready()
	n.Advance()
	for _, id := range []NodeID{"n2", "n3"} { // acknowledge the no-op: replicate state
		if err := n.Step(Message{Type: MsgAppResp, From: id, To: "n1", Term: 1, Index: 1}); err != nil {
			t.Fatal(err)
		}
	}
	n.Ready()
	n.Advance()
	for i := range 10 {
		if _, _, err := n.Propose([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	rd := n.Ready()
	apps := 0
	for _, m := range rd.Messages {
		if m.Type == MsgApp {
			apps++
			if len(m.Entries) != 10 {
				t.Errorf("append to %s carries %d entries, want all 10", m.To, len(m.Entries))
			}
		}
	}
	if apps != 2 {
		t.Fatalf("%d appends for 10 proposals, want one per follower: %v", apps, rd.Messages)
	}
}

// Reads that arrive while a heartbeat round is out share the next round.
func TestReadsShareRounds(t *testing.T) {
	n, err := NewRawNode(Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTick: 10, HeartbeatTick: 5,
		DisablePreVote: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Campaign()
	n.Ready()
	n.Advance()
	for _, id := range []NodeID{"n2", "n3"} {
		if err := n.Step(Message{Type: MsgVoteResp, From: id, To: "n1", Term: 1}); err != nil {
			t.Fatal(err)
		}
	}
	n.Ready()
	n.Advance()
	for _, id := range []NodeID{"n2", "n3"} { // commit the no-op: reads may start
		if err := n.Step(Message{Type: MsgAppResp, From: id, To: "n1", Term: 1, Index: 1}); err != nil {
			t.Fatal(err)
		}
	}
	n.Ready()
	n.Advance()
	heartbeats := func() (out []Message) {
		rd := n.Ready()
		n.Advance()
		for _, m := range rd.Messages {
			if m.Type == MsgHeartbeat {
				out = append(out, m)
			}
		}
		return out
	}
	n.ReadIndex([]byte("a"))
	first := heartbeats()
	if len(first) != 2 {
		t.Fatalf("first read: %d heartbeats, want a round to both followers", len(first))
	}
	n.ReadIndex([]byte("b"))
	if hb := heartbeats(); len(hb) != 0 {
		t.Fatalf("second read started a round while one was out: %v", hb)
	}
	n.ReadIndex([]byte("c"))
	if err := n.Step(Message{Type: MsgHeartbeatResp, From: "n2", To: "n1", Term: 1, Context: first[0].Context}); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	n.Advance()
	var hb []Message
	for _, m := range rd.Messages {
		if m.Type == MsgHeartbeat {
			hb = append(hb, m)
		}
	}
	if len(rd.ReadStates) != 1 || string(rd.ReadStates[0].RequestCtx) != "a" || len(hb) != 2 {
		t.Fatalf("after the first round: read states %v, %d heartbeats; want a answered and one round for b and c", rd.ReadStates, len(hb))
	}
	if err := n.Step(Message{Type: MsgHeartbeatResp, From: "n3", To: "n1", Term: 1, Context: hb[1].Context}); err != nil {
		t.Fatal(err)
	}
	rd = n.Ready()
	if len(rd.ReadStates) != 2 {
		t.Fatalf("second round answered %v, want b and c", rd.ReadStates)
	}
}
