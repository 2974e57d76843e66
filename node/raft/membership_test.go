package raft_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Membership changes (thesis ch. 4) and leadership transfer (§3.10), on
// the in-memory cluster checked by node/raft/invariant after every step.

func ids(s ...string) []raft.NodeID {
	out := make([]raft.NodeID, len(s))
	for i, x := range s {
		out[i] = raft.NodeID(x)
	}
	return out
}

// settle delivers everything and fails the test on a broken invariant.
func settle(t *testing.T, e *env) {
	t.Helper()
	if err := e.stabilize(); err != nil {
		t.Fatal(err)
	}
	if e.err != nil {
		t.Fatal(e.err)
	}
}

// electN1 returns a cluster of n with n1 leading and its no-op committed.
func electN1(t *testing.T, n int, cfg envConfig) *env {
	t.Helper()
	e := newEnv(n, cfg, 1)
	e.nodes["n1"].rn.Campaign()
	e.process("n1")
	settle(t, e)
	if e.leader() != "n1" {
		t.Fatalf("n1 not elected: %s", e.fmtNode("n1"))
	}
	return e
}

func mustChange(t *testing.T, e *env, on raft.NodeID, typ raft.ConfChangeType, node raft.NodeID) {
	t.Helper()
	if err := e.confChange(on, raft.ConfChange{Type: typ, Node: node}); err != nil {
		t.Fatalf("%s %s on %s: %v", typ, node, on, err)
	}
	settle(t, e)
}

func wantConf(t *testing.T, e *env, id raft.NodeID, voters, learners []raft.NodeID) {
	t.Helper()
	cs := e.nodes[id].rn.Status().Conf
	if !slices.Equal(cs.Voters, voters) || !slices.Equal(cs.Learners, learners) {
		t.Fatalf("%s: conf %v, want voters=%v learners=%v", id, cs, voters, learners)
	}
}

// heartbeat lets the leader tell everyone its commit index.
func heartbeat(t *testing.T, e *env, id raft.NodeID) {
	t.Helper()
	e.tick(id)
	settle(t, e)
}

// §4.1, §4.2.1: a node joins with no configuration, is added as a learner,
// promoted, and a voter is removed; every member follows each step.
func TestSection4_1SingleServerAddPromoteRemove(t *testing.T) {
	e := electN1(t, 3, defaultConfig())
	e.addNode("n4")
	if cs := e.nodes["n4"].rn.Status().Conf; !cs.IsEmpty() {
		t.Fatalf("a joining node starts with no configuration, got %v", cs)
	}
	mustChange(t, e, "n1", raft.ConfAddLearner, "n4")
	heartbeat(t, e, "n1")
	for _, id := range ids("n1", "n2", "n3", "n4") {
		wantConf(t, e, id, ids("n1", "n2", "n3"), ids("n4"))
	}
	e.propose("n1", "x")
	settle(t, e)
	if got, want := e.nodes["n4"].rn.Status().Applied, e.nodes["n1"].rn.Status().Applied; got != want {
		t.Fatalf("learner applied %d, leader %d", got, want)
	}
	mustChange(t, e, "n1", raft.ConfPromote, "n4")
	mustChange(t, e, "n1", raft.ConfRemove, "n2")
	heartbeat(t, e, "n1")
	for _, id := range ids("n1", "n3", "n4") {
		wantConf(t, e, id, ids("n1", "n3", "n4"), nil)
	}
	// n2 no longer counts: n1 and n4 alone commit.
	e.crash("n3", 0)
	e.propose("n1", "y")
	settle(t, e)
	st := e.nodes["n1"].rn.Status()
	if st.Commit != st.LastIndex {
		t.Fatalf("n1 and n4 are 2 of 3 voters but did not commit: %s", e.fmtNode("n1"))
	}
	// Errors: unknown member, existing member, last voter.
	for _, tc := range []struct {
		cc   raft.ConfChange
		want error
	}{
		{raft.ConfChange{Type: raft.ConfPromote, Node: "n9"}, raft.ErrUnknownMember},
		{raft.ConfChange{Type: raft.ConfRemove, Node: "n9"}, raft.ErrUnknownMember},
		{raft.ConfChange{Type: raft.ConfAddLearner, Node: "n4"}, raft.ErrMemberExists},
		{raft.ConfChange{Type: raft.ConfPromote, Node: "n4"}, raft.ErrMemberExists},
	} {
		if _, _, err := e.nodes["n1"].rn.ProposeConfChange(tc.cc); !errors.Is(err, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.cc, err, tc.want)
		}
	}
	if _, _, err := e.nodes["n4"].rn.ProposeConfChange(raft.ConfChange{Type: raft.ConfRemove, Node: "n3"}); !errors.Is(err, raft.ErrProposalDropped) {
		t.Errorf("change on a follower: got %v, want ErrProposalDropped", err)
	}
	cs := raft.ConfState{Voters: ids("n1")}
	if _, err := cs.Apply(raft.ConfChange{Type: raft.ConfRemove, Node: "n1"}); !errors.Is(err, raft.ErrLastVoter) {
		t.Errorf("removing the last voter: got %v", err)
	}
}

// §4.2.1: a learner receives the log but neither counts toward a commit
// nor votes, and never campaigns.
func TestSection4_2_1LearnerDoesNotVoteOrCount(t *testing.T) {
	e := electN1(t, 3, defaultConfig())
	e.addNode("n4")
	mustChange(t, e, "n1", raft.ConfAddLearner, "n4")
	e.partition(ids("n1", "n4"), ids("n2", "n3"))
	e.propose("n1", "x")
	settle(t, e)
	l, f := e.nodes["n1"].rn.Status(), e.nodes["n4"].rn.Status()
	if f.LastIndex != l.LastIndex || l.Commit == l.LastIndex {
		t.Fatalf("learner stored the entry (last %d) and it must not count (commit %d of %d)", f.LastIndex, l.Commit, l.LastIndex)
	}
	// Alone with n2, the learner neither campaigns nor elects n2.
	e.heal()
	e.crash("n1", 0)
	e.crash("n3", 0)
	term := f.Term
	for range 100 {
		e.tick("n4")
		e.tick("n2")
		settle(t, e)
	}
	if st := e.nodes["n4"].rn.Status(); st.State != raft.StateFollower || st.Term != term {
		t.Fatalf("learner campaigned: %s", e.fmtNode("n4"))
	}
	if e.leader() != raft.None {
		t.Fatalf("%s won with a learner's vote", e.leader())
	}
}

// §4.1: a configuration is in force as soon as its entry is appended, and
// a truncation that removes the entry reverts to the one before.
func TestSection4_1ConfigOnAppendRevertedOnTruncation(t *testing.T) {
	cfg := defaultConfig()
	cfg.preVote, cfg.checkQuorum = false, false
	e := electN1(t, 3, cfg)
	e.addNode("n4")
	e.partition(ids("n1", "n4"), ids("n2", "n3"))
	mustChange(t, e, "n1", raft.ConfAddLearner, "n4")
	wantConf(t, e, "n1", ids("n1", "n2", "n3"), ids("n4"))
	wantConf(t, e, "n4", ids("n1", "n2", "n3"), ids("n4"))
	if st := e.nodes["n1"].rn.Status(); st.Commit == st.LastIndex {
		t.Fatal("the change committed without a majority")
	}
	// n2 is elected without the entry and overwrites it.
	e.nodes["n2"].rn.Campaign()
	e.process("n2")
	settle(t, e)
	e.propose("n2", "y")
	settle(t, e)
	e.heal()
	heartbeat(t, e, "n2")
	for _, id := range ids("n1", "n2", "n3") {
		wantConf(t, e, id, ids("n1", "n2", "n3"), nil)
	}
	// n4 hears nothing more (it is not a member); it keeps what it had.
	wantConf(t, e, "n4", ids("n1", "n2", "n3"), ids("n4"))
}

// §4 (with §5 of the paper): a snapshot carries the configuration at its
// index; a node that installs it, or restarts from it, uses it.
func TestSection4SnapshotCarriesConfig(t *testing.T) {
	e := electN1(t, 3, defaultConfig())
	e.addNode("n4")
	mustChange(t, e, "n1", raft.ConfAddLearner, "n4")
	mustChange(t, e, "n1", raft.ConfPromote, "n4")
	e.propose("n1", "x")
	settle(t, e)
	e.compact("n1")
	snap := e.nodes["n1"].disk.snap
	if !slices.Equal(snap.Meta.Conf.Voters, ids("n1", "n2", "n3", "n4")) || len(snap.Meta.Conf.Learners) > 0 {
		t.Fatalf("snapshot conf %v", snap.Meta.Conf)
	}
	// n5 joins behind the compaction: it learns everything from the
	// snapshot, then restarts from its disk.
	e.addNode("n5")
	mustChange(t, e, "n1", raft.ConfAddLearner, "n5")
	heartbeat(t, e, "n1")
	if d := e.nodes["n5"].disk; d.snap.Meta.Index != snap.Meta.Index {
		t.Fatalf("n5 did not install the snapshot: %+v", d.snap.Meta)
	}
	want := ids("n1", "n2", "n3", "n4")
	wantConf(t, e, "n5", want, ids("n5"))
	e.crash("n5", 0)
	e.start("n5")
	wantConf(t, e, "n5", want, ids("n5"))
	// A snapshot taken before a conf entry carries the configuration at
	// its own index, not the latest.
	e.compact("n5")
	e.partition(ids("n1"), ids("n2", "n3", "n4", "n5"))
	if err := e.confChange("n1", raft.ConfChange{Type: raft.ConfRemove, Node: "n5"}); err != nil {
		t.Fatal(err)
	}
	n1 := e.nodes["n1"]
	s, err := n1.rn.Compact(n1.rn.Status().Applied, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Meta.Conf.IsLearner("n5") {
		t.Fatalf("snapshot at %d carries %v, the configuration after it", s.Meta.Index, s.Meta.Conf)
	}
	wantConf(t, e, "n1", want, nil)
}

// §4.2.2: a leader that removes itself keeps leading, without counting
// itself, until the change commits; then it steps down and, no longer a
// voter, never campaigns.
func TestSection4_2_2RemovedLeaderStepsDownAfterCommit(t *testing.T) {
	e := electN1(t, 3, defaultConfig())
	e.partition(ids("n1"), ids("n2", "n3"))
	if err := e.confChange("n1", raft.ConfChange{Type: raft.ConfRemove, Node: "n1"}); err != nil {
		t.Fatal(err)
	}
	settle(t, e)
	if st := e.nodes["n1"].rn.Status(); st.State != raft.StateLeader || st.Commit == st.LastIndex {
		t.Fatalf("before the change commits n1 leads: %s", e.fmtNode("n1"))
	}
	e.heal()
	heartbeat(t, e, "n1")
	st := e.nodes["n1"].rn.Status()
	if st.State == raft.StateLeader || st.Commit != st.LastIndex {
		t.Fatalf("after the change commits n1 steps down: %s", e.fmtNode("n1"))
	}
	for range 100 {
		for _, id := range e.ids {
			e.tick(id)
		}
		settle(t, e)
	}
	if l := e.leader(); l != "n2" && l != "n3" {
		t.Fatalf("leader %q after n1 left", l)
	}
	if st := e.nodes["n1"].rn.Status(); st.State != raft.StateFollower {
		t.Fatalf("removed node campaigns: %s", e.fmtNode("n1"))
	}
	wantConf(t, e, e.leader(), ids("n2", "n3"), nil)
}

// §4.2.3: a removed server that never learned of its removal times out
// and campaigns; PreVote and the CheckQuorum lease keep it from deposing
// the leader (each alone suffices here).
func TestSection4_2_3RemovedServerDoesNotDisrupt(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		preVote, checkQuorum bool
	}{{"prevote+checkquorum", true, true}, {"prevote", true, false}, {"checkquorum", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.preVote, cfg.checkQuorum = tc.preVote, tc.checkQuorum
			e := electN1(t, 3, cfg)
			e.partition(ids("n3"), ids("n1", "n2"))
			mustChange(t, e, "n1", raft.ConfRemove, "n3")
			heartbeat(t, e, "n1")
			wantConf(t, e, "n3", ids("n1", "n2", "n3"), nil)
			e.heal()
			term := e.nodes["n1"].rn.Status().Term
			for range 200 {
				for _, id := range e.ids {
					e.tick(id)
				}
				settle(t, e)
			}
			if st := e.nodes["n1"].rn.Status(); st.State != raft.StateLeader || st.Term != term {
				t.Fatalf("the removed n3 disrupted the leader: %s; %s", e.fmtNode("n1"), e.fmtNode("n3"))
			}
		})
	}
}

// §3.10: the leader brings the target up to date, then tells it to
// campaign; it wins at once, although the other voters hear from the old
// leader (the transfer's vote overrides the CheckQuorum lease).
func TestSection3_10LeaderTransfer(t *testing.T) {
	e := electN1(t, 3, defaultConfig())
	e.partition(ids("n1", "n3"), ids("n2"))
	e.propose("n1", "x")
	settle(t, e)
	e.heal()
	if err := e.transfer("n1", "n2"); err != nil {
		t.Fatal(err)
	}
	if st := e.nodes["n1"].rn.Status(); st.Transferee != "n2" {
		t.Fatalf("transferee %q", st.Transferee)
	}
	// Proposals are refused while the transfer runs.
	if _, _, err := e.nodes["n1"].rn.Propose([]byte("refused")); !errors.Is(err, raft.ErrProposalDropped) {
		t.Fatalf("proposal during transfer: %v", err)
	}
	if _, _, err := e.nodes["n1"].rn.ProposeConfChange(raft.ConfChange{Type: raft.ConfRemove, Node: "n3"}); !errors.Is(err, raft.ErrProposalDropped) {
		t.Fatalf("conf change during transfer: %v", err)
	}
	settle(t, e)
	if l := e.leader(); l != "n2" {
		t.Fatalf("leader %q after the transfer; %s", l, e.fmtNode("n2"))
	}
	e.propose("n2", "y")
	settle(t, e)
	heartbeat(t, e, "n2")
	for _, id := range e.ids {
		if data := string(e.nodes[id].applied[len(e.nodes[id].applied)-1].Data); data != "y" {
			t.Fatalf("%s last applied %q", id, data)
		}
	}
	// Errors.
	for _, tc := range []struct {
		on, to raft.NodeID
		want   error
	}{{"n1", "n3", raft.ErrNotLeader}, {"n2", "n9", raft.ErrUnknownMember}} {
		if err := e.nodes[tc.on].rn.TransferLeader(tc.to); !errors.Is(err, tc.want) {
			t.Errorf("transfer %s→%s: %v, want %v", tc.on, tc.to, err, tc.want)
		}
	}
	e.addNode("n4")
	mustChange(t, e, "n2", raft.ConfAddLearner, "n4")
	if err := e.nodes["n2"].rn.TransferLeader("n4"); !errors.Is(err, raft.ErrNotVoter) {
		t.Errorf("transfer to a learner: %v", err)
	}
}

// §3.10: a transfer that does not complete within an election timeout
// (the target is down) is abandoned and proposals are taken again.
func TestSection3_10TransferAbortsAfterElectionTimeout(t *testing.T) {
	e := electN1(t, 3, defaultConfig())
	e.crash("n2", 0)
	if err := e.transfer("n1", "n2"); err != nil {
		t.Fatal(err)
	}
	settle(t, e)
	for i := 0; e.nodes["n1"].rn.Status().Transferee != raft.None; i++ {
		if i > e.cfg.electionTick {
			t.Fatalf("transfer still running after %d ticks", i)
		}
		if _, _, err := e.nodes["n1"].rn.Propose([]byte("x")); !errors.Is(err, raft.ErrProposalDropped) {
			t.Fatalf("proposal during transfer: %v", err)
		}
		e.tick("n1")
		e.tick("n3")
		settle(t, e)
	}
	if e.leader() != "n1" {
		t.Fatalf("n1 lost leadership: %s", e.fmtNode("n1"))
	}
	if _, _, err := e.nodes["n1"].rn.Propose([]byte("x")); err != nil {
		t.Fatalf("proposal after the transfer was abandoned: %v", err)
	}
}

// The 2015 rule (Ongaro, raft-dev): no change before the leader's term has
// committed an entry, unless the unsafe mode lifts it.
func TestSection4_1NoChangeBeforeCommitInTerm(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		cfg := defaultConfig()
		cfg.unsafe.ConfigBeforeNoop = unsafe
		e := newEnv(3, cfg, 1)
		e.nodes["n1"].rn.Campaign()
		e.process("n1")
		for e.nodes["n1"].rn.Status().State != raft.StateLeader {
			m := e.net[0]
			e.net = e.net[1:]
			e.deliver(m)
		}
		_, _, err := e.nodes["n1"].rn.ProposeConfChange(raft.ConfChange{Type: raft.ConfAddLearner, Node: "n4"})
		if unsafe != (err == nil) || (!unsafe && !errors.Is(err, raft.ErrNoCommitInTerm)) {
			t.Fatalf("unsafe=%v: %v", unsafe, err)
		}
	}
}
