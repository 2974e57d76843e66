package raft

import (
	"fmt"
	"slices"
	"testing"
)

// Step is fed messages decoded from the network. A message that decodes
// but breaks the protocol's shape must be dropped: never a panic, never a
// changed log, never a fatal error (which would let one bad frame stop a
// node).

func malformedFollower(t *testing.T) *RawNode {
	t.Helper()
	rn, err := NewRawNode(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTick: 10, HeartbeatTick: 1})
	if err != nil {
		t.Fatal(err)
	}
	return rn
}

// stepNoPanic steps m into rn and reports a panic as a test failure.
func stepNoPanic(t *testing.T, rn *RawNode, m Message) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Step(%v Index=%d Entries=%v) panicked: %v", m.Type, m.Index, m.Entries, p)
		}
	}()
	if err := rn.Step(m); err != nil {
		t.Logf("Step refused: %v", err)
	}
	for rn.HasReady() {
		rn.Ready()
		rn.Advance()
	}
}

func ents(term uint64, idx ...uint64) []Entry {
	var out []Entry
	for _, i := range idx {
		out = append(out, Entry{Term: term, Index: i, Data: []byte(fmt.Sprint("e", i))})
	}
	return out
}

// Figure 2, AppendEntries receiver: Entries are the entries that follow
// prevLogIndex, so they must be contiguous from Index+1 with terms that
// never decrease and never pass the leader's term. An append that breaks
// that is not from a correct leader.
func TestFigure2AppendEntriesMalformedEntries(t *testing.T) {
	cases := []struct {
		name  string
		setup []Message
		bad   Message
	}{
		{name: "gap after prev on an empty log",
			bad: Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: ents(1, 5), Commit: 5}},
		{name: "gap after prev",
			setup: []Message{{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: ents(1, 1, 2, 3)}},
			bad:   Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Index: 1, LogTerm: 1, Entries: ents(1, 9)}},
		{name: "indices going backwards",
			bad: Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: ents(1, 3, 1)}},
		{name: "first entry overlaps prev",
			setup: []Message{{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: ents(1, 1, 2, 3)}},
			bad:   Message{Type: MsgApp, From: "n1", To: "n2", Term: 2, Index: 3, LogTerm: 1, Entries: ents(2, 2, 3, 4)}},
		{name: "entry term beyond the leader's",
			bad: Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: ents(7, 1)}},
		{name: "entry term below prevLogTerm",
			setup: []Message{{Type: MsgApp, From: "n1", To: "n2", Term: 2, Entries: ents(2, 1, 2)}},
			bad:   Message{Type: MsgApp, From: "n1", To: "n2", Term: 2, Index: 2, LogTerm: 2, Entries: ents(1, 3)}},
		// With spare capacity behind the slice, a gap does not panic: it
		// silently revives entries an earlier conflict truncated away.
		{name: "gap within capacity revives truncated entries",
			setup: []Message{
				{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: ents(1, 1, 2, 3, 4, 5, 6, 7, 8)},
				{Type: MsgApp, From: "n3", To: "n2", Term: 2, Index: 3, LogTerm: 1, Entries: ents(2, 4)},
			},
			bad: Message{Type: MsgApp, From: "n3", To: "n2", Term: 2, Index: 4, LogTerm: 2, Entries: ents(2, 7)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rn := malformedFollower(t)
			for _, m := range tc.setup {
				stepNoPanic(t, rn, m)
			}
			before := slices.Clone(rn.r.log.entries)
			commit := rn.r.log.committed
			stepNoPanic(t, rn, tc.bad)
			if err := rn.Err(); err != nil {
				t.Fatalf("a malformed append stopped the node: %v", err)
			}
			if !slices.EqualFunc(before, rn.r.log.entries, func(a, b Entry) bool {
				return a.Index == b.Index && a.Term == b.Term && string(a.Data) == string(b.Data)
			}) {
				t.Fatalf("a malformed append changed the log:\nbefore %v\nafter  %v", before, rn.r.log.entries)
			}
			if rn.r.log.committed != commit {
				t.Fatalf("a malformed append moved commit from %d to %d", commit, rn.r.log.committed)
			}
			for i, e := range rn.r.log.entries {
				if want := rn.r.log.firstIndex() + uint64(i); e.Index != want {
					t.Fatalf("log invariant broken: entries[%d].Index = %d, want %d", i, e.Index, want)
				}
			}
		})
	}
}

// §5.3 and Figure 2 (leader: "If successful: update nextIndex and
// matchIndex for follower"): a follower can only acknowledge entries the
// leader sent it, so an acknowledgement past the end of the leader's log
// is bogus. Believing it counts the follower toward a quorum for entries
// it does not hold, and parks its nextIndex past the log, from where every
// rejection looks stale, so it would never be repaired.
func TestFigure2AckBeyondLeaderLog(t *testing.T) {
	c := newCluster(t, 3, 21)
	c.elect("n1")
	c.isolate("n1")
	idx, err := c.propose("n1", "only-on-n1")
	if err != nil {
		t.Fatal(err)
	}
	c.inbox = nil
	term := c.nodes["n1"].rn.Status().Term
	// A frame delivered from the network, wherever it came from.
	if err := c.nodes["n1"].rn.Step(Message{Type: MsgAppResp, From: "n2", To: "n1", Term: term, Index: idx + 1000}); err != nil {
		t.Fatal(err)
	}
	c.process("n1")
	c.inbox = nil
	if st := c.nodes["n1"].rn.Status(); st.Commit >= idx {
		t.Fatalf("n1 committed index %d, stored on n1 alone, on the word of a bogus acknowledgement", idx)
	}
	// Healed, n2 must still be brought up to date.
	c.heal()
	c.tickAll(30)
	if got, want := len(c.nodes["n2"].applied), len(c.nodes["n1"].applied); got != want || uint64(want) < idx {
		t.Fatalf("after healing n2 applied %d entries, leader %d (want >= %d): replication to n2 stalled", got, want, idx)
	}
}

// §5.1: servers talk to each other by RPC; a server never sends one to
// itself, so a frame From our own ID (misrouted, or replayed by a broken
// transport) must not act on us. Stepped in, an append from "ourselves" in
// a later term would make the node follow itself: it adopts the term,
// names itself leader while a follower, and forwards its own proposals to
// itself, where they are lost.
func TestSection5_1MessageFromSelf(t *testing.T) {
	c := newCluster(t, 3, 22)
	c.elect("n1")
	n2 := c.nodes["n2"].rn
	before := n2.Status()
	if err := n2.Step(Message{Type: MsgApp, From: "n2", To: "n2", Term: before.Term + 3, Index: before.LastIndex,
		LogTerm: before.Term}); err == nil {
		c.process("n2")
	}
	if st := n2.Status(); st.Term != before.Term || st.Lead != "n1" {
		t.Fatalf("a message From our own ID changed the node: before %+v, after %+v", before, st)
	}
}

// §7, InstallSnapshot receiver: a snapshot replaces the log up to its last
// included entry, which has an index and term (>= 1, and no later than the
// leader's term), and carries the configuration, sorted and disjoint. One
// that breaks that must not be installed: with Index 0 it means nothing,
// and a malformed configuration would be persisted and then refuse to
// restart: a single bad frame would brick the node. (A configuration
// without us is fine: the leader's snapshot may predate our joining.)
func TestSection7InstallSnapshotMalformed(t *testing.T) {
	snap := func(index, term uint64, peers ...NodeID) *Snapshot {
		return &Snapshot{Meta: SnapshotMeta{Index: index, Term: term, Conf: ConfState{Voters: peers}}, Data: []byte("img")}
	}
	cases := []struct {
		name string
		m    Message
	}{
		{"nil snapshot", Message{Type: MsgSnap, From: "n1", To: "n2", Term: 2}},
		{"index 0", Message{Type: MsgSnap, From: "n1", To: "n2", Term: 2, Snapshot: snap(0, 1, "n1", "n2", "n3")}},
		{"term 0", Message{Type: MsgSnap, From: "n1", To: "n2", Term: 2, Snapshot: snap(5, 0, "n1", "n2", "n3")}},
		{"term past the leader's", Message{Type: MsgSnap, From: "n1", To: "n2", Term: 2, Snapshot: snap(5, 9, "n1", "n2", "n3")}},
		{"voters unsorted", Message{Type: MsgSnap, From: "n1", To: "n2", Term: 2, Snapshot: snap(5, 2, "n3", "n1", "n2")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rn := malformedFollower(t)
			var disk memDisk
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("Step panicked: %v", p)
				}
			}()
			if err := rn.Step(tc.m); err != nil {
				t.Logf("Step refused: %v", err)
			}
			for rn.HasReady() {
				rd := rn.Ready()
				disk.save(rd)
				rn.Advance()
			}
			if st := rn.Status(); st.Commit != 0 || st.LastIndex != 0 {
				t.Fatalf("malformed snapshot installed: %+v", st)
			}
			_, err := NewRawNode(Config{ID: "n2", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTick: 10, HeartbeatTick: 1,
				HardState: disk.hs, Snapshot: disk.snap, Entries: disk.ents})
			if err != nil {
				t.Fatalf("node cannot restart from what it persisted: %v", err)
			}
		})
	}
}
