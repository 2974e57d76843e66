package invariant

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// fakeNode is a View over a hand-built state, so tests can feed the
// checker states a correct core never reaches.
type fakeNode struct {
	st   raft.Status
	snap raft.SnapshotMeta
	log  []raft.Entry // log[i] has index snap.Index+1+i
}

func (f *fakeNode) Status() raft.Status {
	st := f.st
	st.FirstIndex = f.snap.Index + 1
	st.LastIndex = f.snap.Index + uint64(len(f.log))
	return st
}

func (f *fakeNode) LogTerm(i uint64) (uint64, bool) {
	switch {
	case i == f.snap.Index:
		return f.snap.Term, true
	case i < f.snap.Index || i > f.snap.Index+uint64(len(f.log)):
		return 0, false
	}
	return f.log[i-f.snap.Index-1].Term, true
}

func (f *fakeNode) LogEntry(i uint64) (raft.Entry, bool) {
	if i <= f.snap.Index || i > f.snap.Index+uint64(len(f.log)) {
		return raft.Entry{}, false
	}
	return f.log[i-f.snap.Index-1], true
}

// node builds a fake whose log is given as "term:data" words, e.g.
// "1:a 1:b 2:c".
func node(id raft.NodeID, term uint64, state raft.StateType, commit uint64, log string) *fakeNode {
	f := &fakeNode{st: raft.Status{ID: id, Term: term, State: state, Commit: commit}}
	f.setLog(log)
	return f
}

func (f *fakeNode) setLog(log string) {
	f.log = nil
	for i, w := range strings.Fields(log) {
		var t uint64
		var d string
		fmt.Sscanf(strings.Replace(w, ":", " ", 1), "%d %s", &t, &d)
		f.log = append(f.log, raft.Entry{Term: t, Index: f.snap.Index + 1 + uint64(i), Data: []byte(d)})
	}
}

// expect observes the nodes in order and wants the last observation, and
// only it, to break inv (or nothing when inv is "").
func expect(t *testing.T, c *Checker, inv string, obs ...*fakeNode) *Violation {
	t.Helper()
	for i, f := range obs {
		err := c.Observe(f.st.ID, f)
		if i < len(obs)-1 || inv == "" {
			if err != nil {
				t.Fatalf("observation %d (%s): unexpected %v", i, f.st.ID, err)
			}
			continue
		}
		var v *Violation
		if !errors.As(err, &v) {
			t.Fatalf("observation %d (%s): want %s violation, got %v", i, f.st.ID, inv, err)
		}
		if v.Invariant != inv {
			t.Fatalf("want %s, got %v", inv, v)
		}
		t.Logf("%v", v)
		return v
	}
	return nil
}

func TestElectionSafety(t *testing.T) {
	c := New()
	n1 := node("n1", 2, raft.StateLeader, 0, "1:a")
	n2 := node("n2", 2, raft.StateFollower, 0, "1:a")
	expect(t, c, "", n1, n2)
	// n1 steps down; later n2 claims the same term: remembered across steps.
	n1.st.State = raft.StateFollower
	n2.st.State = raft.StateLeader
	v := expect(t, c, ElectionSafety, n1, n2)
	if v.Nodes[0] != "n1" || v.Nodes[1] != "n2" {
		t.Errorf("nodes %v", v.Nodes)
	}
	// A leader in a later term is fine.
	c2 := New()
	n3 := node("n3", 3, raft.StateLeader, 0, "1:a")
	expect(t, c2, "", n1, n3)
}

func TestLogMatchingData(t *testing.T) {
	c := New()
	expect(t, c, LogMatching,
		node("n1", 1, raft.StateFollower, 0, "1:a 1:b"),
		node("n2", 1, raft.StateFollower, 0, "1:a 1:c"))
}

func TestLogMatchingPrefix(t *testing.T) {
	c := New()
	expect(t, c, LogMatching,
		node("n1", 2, raft.StateFollower, 0, "1:a 1:b 2:c"),
		node("n2", 2, raft.StateFollower, 0, "1:a 2:b 2:c"))
}

func TestLogMatchingDecreasingTerms(t *testing.T) {
	expect(t, New(), LogMatching, node("n1", 3, raft.StateFollower, 0, "1:a 3:b 2:c"))
}

// A log rewritten below its tail, keeping its last term, is rechecked.
func TestLogMatchingRewriteBelowTail(t *testing.T) {
	c := New()
	n1 := node("n1", 2, raft.StateFollower, 0, "1:a 1:b 2:c 2:d")
	expect(t, c, "", n1)
	n1.setLog("1:a 2:x 2:c 2:d")
	expect(t, c, LogMatching, n1)
}

// A follower's uncommitted tail replaced by the leader's is legal.
func TestTruncationOfUncommittedTail(t *testing.T) {
	c := New()
	l := node("n1", 2, raft.StateLeader, 1, "1:a 2:x 2:y")
	f := node("n2", 2, raft.StateFollower, 1, "1:a 1:stale 1:stale2")
	expect(t, c, "", l, f)
	f.setLog("1:a 2:x")
	f.st.Commit = 2
	l.st.Commit = 2
	expect(t, c, "", f, l)
	f.setLog("1:a 2:x 2:y 2:z")
	l.setLog("1:a 2:x 2:y 2:z")
	expect(t, c, "", l, f)
}

func TestLeaderCompleteness(t *testing.T) {
	c := New()
	n1 := node("n1", 1, raft.StateLeader, 2, "1:a 1:b")
	n2 := node("n2", 2, raft.StateLeader, 1, "1:a 2:c")
	v := expect(t, c, LeaderCompleteness, n1, n2)
	if !strings.Contains(v.Detail, "without index 2") {
		t.Errorf("detail does not point at index 2: %s", v.Detail)
	}
}

// A deposed leader that has not heard of its successor lacks what the
// successor committed: not a violation (Leader Completeness binds a leader
// to what was committed before its term). Seen as a false alarm in the
// simulator before the checker knew in which term a commit was seen.
func TestDeposedLeaderMayLackLaterCommits(t *testing.T) {
	c := New()
	newer := node("n1", 3, raft.StateLeader, 2, "1:a 3:b")
	stale := node("n2", 2, raft.StateLeader, 1, "1:a 2:c")
	expect(t, c, "", newer, stale)
}

func TestStateMachineSafety(t *testing.T) {
	c := New()
	expect(t, c, StateMachineSafety,
		node("n1", 1, raft.StateFollower, 2, "1:a 1:b"),
		node("n2", 2, raft.StateFollower, 2, "1:a 2:c"))
}

// Same index and term but other data, committed on both: caught by Log
// Matching first, when the second copy appears.
func TestStateMachineSafetyByHash(t *testing.T) {
	c := New()
	expect(t, c, "", node("n1", 1, raft.StateFollower, 2, "1:a 1:b"))
	n2 := node("n2", 1, raft.StateFollower, 1, "1:a")
	expect(t, c, "", n2)
	n2.setLog("1:a 1:z")
	n2.st.Commit = 2
	expect(t, c, LogMatching, n2)
}

func TestAppliedBeyondCommitAndMismatch(t *testing.T) {
	c := New()
	n1 := node("n1", 1, raft.StateFollower, 1, "1:a 1:b")
	expect(t, c, "", n1)
	if err := c.Applied("n1", raft.Entry{Index: 1, Term: 1, Data: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	err := c.Applied("n1", raft.Entry{Index: 2, Term: 1, Data: []byte("b")})
	if v := (*Violation)(nil); !errors.As(err, &v) || v.Invariant != AppliedBeyondCommit {
		t.Fatalf("want %s, got %v", AppliedBeyondCommit, err)
	}
	err = c.Applied("n2", raft.Entry{Index: 1, Term: 1, Data: []byte("other")})
	if v := (*Violation)(nil); !errors.As(err, &v) || v.Invariant != StateMachineSafety {
		t.Fatalf("want %s, got %v", StateMachineSafety, err)
	}
}

func TestCommittedEntryLostInCrash(t *testing.T) {
	c := New()
	n1 := node("n1", 1, raft.StateLeader, 2, "1:a 1:b")
	n2 := node("n2", 1, raft.StateFollower, 1, "1:a 1:b")
	n3 := node("n3", 1, raft.StateFollower, 1, "1:a")
	expect(t, c, "", n1, n2, n3)
	// n2 restarts without the entry it acknowledged: only n1 holds it.
	expect(t, c, CommittedNeverLost, node("n2", 1, raft.StateFollower, 1, "1:a"))
	// A restart that kept it, or a snapshot covering it, is fine.
	c2 := New()
	expect(t, c2, "", n1, n2, n3, node("n2", 1, raft.StateFollower, 1, "1:a 1:b"))
	// Nodes never observed may hold it: no loss is reported for them.
	c3 := New("n1", "n2", "n3", "n4", "n5")
	expect(t, c3, "", n1, n2, node("n2", 1, raft.StateFollower, 1, "1:a"))
	snap := node("n3", 1, raft.StateFollower, 2, "")
	snap.snap = raft.SnapshotMeta{Index: 2, Term: 1}
	expect(t, c2, "", snap, node("n1", 1, raft.StateFollower, 2, "1:a 1:b"))
}

func TestDurableTermAndVote(t *testing.T) {
	c := New()
	n1 := node("n1", 3, raft.StateFollower, 0, "")
	expect(t, c, "", n1)
	if err := c.Sent(raft.Message{Type: raft.MsgHeartbeatResp, From: "n1", To: "n2", Term: 3}); err != nil {
		t.Fatal(err)
	}
	// What a node only held in memory may be lost: a restart in term 2
	// would be fine had it not spoken in term 3.
	expect(t, c, DurableState, node("n1", 2, raft.StateFollower, 0, ""))

	c2 := New()
	grant := func(to raft.NodeID, term uint64) error {
		return c2.Sent(raft.Message{Type: raft.MsgVoteResp, From: "n1", To: to, Term: term})
	}
	for _, err := range []error{
		grant("n2", 3), grant("n2", 3), // a repeated grant to the same candidate
		c2.Sent(raft.Message{Type: raft.MsgVoteResp, From: "n1", To: "n3", Term: 3, Reject: true}),
		c2.Sent(raft.Message{Type: raft.MsgPreVoteResp, From: "n1", To: "n3", Term: 3}),
		grant("n3", 4),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	err := grant("n2", 4)
	if v := (*Violation)(nil); !errors.As(err, &v) || v.Invariant != DurableState {
		t.Fatalf("want %s, got %v", DurableState, err)
	}
	t.Log(err)
}

func TestReadIndex(t *testing.T) {
	c := New()
	expect(t, c, "", node("n1", 1, raft.StateLeader, 2, "1:a 1:b"))
	c.ReadStarted("n1", []byte("r1"))
	c.ReadStarted("n2", []byte("r1")) // contexts are per node
	if err := c.ReadServed("n1", []byte("r1"), 2); err != nil {
		t.Fatal(err)
	}
	err := c.ReadServed("n2", []byte("r1"), 1)
	if v := (*Violation)(nil); !errors.As(err, &v) || v.Invariant != LinearizableRead {
		t.Fatalf("want %s, got %v", LinearizableRead, err)
	}
}

// After compaction the checker keeps working from the snapshot on.
func TestCompactionAndSnapshotCatchUp(t *testing.T) {
	c := New()
	n1 := node("n1", 1, raft.StateLeader, 3, "1:a 1:b 1:c")
	n2 := node("n2", 1, raft.StateFollower, 0, "")
	expect(t, c, "", n1, n2)
	n1.snap = raft.SnapshotMeta{Index: 2, Term: 1}
	n1.log = n1.log[2:]
	n2.snap = raft.SnapshotMeta{Index: 2, Term: 1}
	n2.log = nil
	n2.st.Commit = 2
	expect(t, c, "", n1, n2)
	n2.setLog("1:c")
	n2.st.Commit = 3
	expect(t, c, "", n2)
	n2.setLog("2:c")
	expect(t, c, StateMachineSafety, n2)
}
