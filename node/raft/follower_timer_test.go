package raft

import "testing"

// Figure 2, Followers: convert to candidate only if an election timeout
// elapses without AppendEntries from the current leader. A leader that is
// streaming entries may send no separate heartbeat; its appends alone
// must keep the follower from campaigning (it would otherwise start a
// pre-vote round every timeout, and without PreVote depose the leader).
func TestFigure2AppendEntriesResetElectionTimer(t *testing.T) {
	rn := malformedFollower(t) // n2 of n1..n3, election timeout 10 ticks
	const ticks = 100          // ten election timeouts
	for i := uint64(1); i <= ticks; i++ {
		stepNoPanic(t, rn, Message{Type: MsgApp, From: "n1", To: "n2", Term: 1,
			LogTerm: termOf(i - 1), Index: i - 1, Entries: ents(1, i), Commit: i - 1})
		rn.Tick()
		for rn.HasReady() {
			rd := rn.Ready()
			for _, m := range rd.Messages {
				if m.Type == MsgPreVote || m.Type == MsgVote {
					t.Fatalf("tick %d: the follower campaigned (%v) while the leader's appends kept arriving", i, m.Type)
				}
			}
			rn.Advance()
		}
		if st := rn.Status(); st.State != StateFollower || st.Lead != "n1" {
			t.Fatalf("tick %d: %v with leader %q, want a follower of n1", i, st.State, st.Lead)
		}
	}
}

// termOf is the term of entry i of a log written by one leader in term 1.
func termOf(i uint64) uint64 {
	if i == 0 {
		return 0
	}
	return 1
}
