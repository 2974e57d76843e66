package raft

// Figure 2's receiver rules, checked on one node's state directly.

import "testing"

// followerLog is a follower's log 1:t1 2:t1 3:t2 4:t2, where 3 and 4 are
// entries of a deposed leader that the current leader (term 3) never had.
func followerLog() *raftLog {
	return &raftLog{entries: []Entry{{Index: 1, Term: 1}, {Index: 2, Term: 1}, {Index: 3, Term: 2}, {Index: 4, Term: 2}}, stabled: 4}
}

// Figure 2, AppendEntries receiver 5: commitIndex = min(leaderCommit,
// index of last new entry). Entries past what this append established
// may be a deposed leader's, so the leader's commit index says nothing
// about them, even when it is larger (a batch cut by MaxSizePerMsg).
func TestAppendCommitsOnlyWhatItEstablished(t *testing.T) {
	l := followerLog()
	last, ok, err := l.maybeAppend(1, 1, 5, []Entry{{Index: 2, Term: 1}})
	if err != nil || !ok || last != 2 {
		t.Fatalf("maybeAppend = %d, %v, %v; want 2, true, nil", last, ok, err)
	}
	if l.committed != 2 {
		t.Fatalf("committed %d after an append establishing entries up to 2; want 2 (3 and 4 are unverified)", l.committed)
	}
}

// Figure 2, AppendEntries receiver 3 and 4: an append whose entries all
// match changes nothing; one that conflicts replaces the suffix from the
// conflict on.
func TestAppendTruncatesOnlyAtAConflict(t *testing.T) {
	l := followerLog()
	if _, ok, err := l.maybeAppend(1, 1, 0, []Entry{{Index: 2, Term: 1}, {Index: 3, Term: 2}}); err != nil || !ok {
		t.Fatalf("matching append rejected: %v, %v", ok, err)
	}
	if l.lastIndex() != 4 || l.stabled != 4 {
		t.Fatalf("a matching append cut the log to %d (stabled %d); want 4 (4)", l.lastIndex(), l.stabled)
	}
	if _, ok, err := l.maybeAppend(2, 1, 0, []Entry{{Index: 3, Term: 3}}); err != nil || !ok {
		t.Fatalf("conflicting append rejected: %v, %v", ok, err)
	}
	if l.lastIndex() != 3 || mustTerm(t, l, 3) != 3 || l.stabled != 2 {
		t.Fatalf("after a conflict at 3: last %d, term(3) %d, stabled %d; want 3, 3, 2", l.lastIndex(), mustTerm(t, l, 3), l.stabled)
	}
}

func mustTerm(t *testing.T, l *raftLog, i uint64) uint64 {
	t.Helper()
	term, err := l.term(i)
	if err != nil {
		t.Fatal(err)
	}
	return term
}

// Figure 2, RequestVote receiver 1: reply false if term < currentTerm. A
// node that moved on to a later term without voting in it must not grant
// a vote for an earlier one: it may have voted in that term already, and
// a second vote could elect a second leader there.
func TestVoteForAnEarlierTermIsNotGranted(t *testing.T) {
	r, err := newRaft(Config{ID: "n1", Peers: []NodeID{"n1", "n2", "n3"}, ElectionTick: 10, HeartbeatTick: 1,
		HardState: HardState{Term: 5}})
	if err != nil {
		t.Fatal(err)
	}
	r.step(Message{Type: MsgVote, From: "n2", To: "n1", Term: 3})
	for _, m := range r.msgs {
		if m.Type == MsgVoteResp && !m.Reject {
			t.Fatalf("granted a vote for term 3 at term 5: %+v", m)
		}
	}
	if r.term != 5 || r.vote != None {
		t.Fatalf("term %d vote %q after a stale vote request; want 5, none", r.term, r.vote)
	}
}
