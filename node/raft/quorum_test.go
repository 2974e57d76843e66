package raft

import (
	"fmt"
	"testing"
)

func voterSet(n int) majority {
	m := make(majority, n)
	for i := range m {
		m[i] = NodeID(fmt.Sprintf("n%d", i+1))
	}
	return m
}

func TestMajoritySize(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 4, 8: 5, 9: 5} {
		if got := voterSet(n).size(); got != want {
			t.Errorf("%d voters: majority %d, want %d", n, got, want)
		}
	}
}

func TestMajorityVoteResult(t *testing.T) {
	// votes lists the answers of n1, n2, ... in order: y granted, n
	// rejected, _ not answered.
	for _, tc := range []struct {
		voters int
		votes  string
		want   voteResult
	}{
		{1, "_", votePending},
		{1, "y", voteWon},
		{1, "n", voteLost},
		{2, "y_", votePending},
		{2, "yn", voteLost}, // a tie in an even set is no majority
		{2, "yy", voteWon},
		{3, "y__", votePending},
		{3, "yy_", voteWon},
		{3, "yn_", votePending},
		{3, "ynn", voteLost},
		{4, "yyn_", votePending},
		{4, "yynn", voteLost}, // 2-2 tie
		{4, "yyy_", voteWon},
		{5, "yyn__", votePending},
		{5, "yynn_", votePending},
		{5, "yynnn", voteLost},
		{5, "yyy__", voteWon},
		{5, "nnyyy", voteWon},
	} {
		m := voterSet(tc.voters)
		votes := map[NodeID]bool{"outsider": true, "outsider2": true} // non-voters never count
		for i, c := range tc.votes {
			if c != '_' {
				votes[m[i]] = c == 'y'
			}
		}
		if got := m.voteResult(votes); got != tc.want {
			t.Errorf("%d voters, votes %q: %d, want %d", tc.voters, tc.votes, got, tc.want)
		}
	}
}

func TestMajorityCommittedIndex(t *testing.T) {
	for _, tc := range []struct {
		match []uint64
		want  uint64
	}{
		{[]uint64{7}, 7},
		{[]uint64{7, 3}, 3},
		{[]uint64{3, 7}, 3},
		{[]uint64{5, 9, 1}, 5},
		{[]uint64{9, 9, 1}, 9},
		{[]uint64{1, 2, 3, 4}, 2}, // 3 of 4 hold 2
		{[]uint64{4, 4, 1, 1}, 1}, // a 2-2 tie commits only what all share
		{[]uint64{2, 8, 6, 4, 10}, 6},
		{[]uint64{0, 0, 0, 5, 5}, 0},
		{[]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}, 5}, // past the stack buffer
	} {
		m := voterSet(len(tc.match))
		got := m.committedIndex(func(id NodeID) uint64 {
			for i, v := range m {
				if v == id {
					return tc.match[i]
				}
			}
			t.Fatalf("asked for non-voter %s", id)
			return 0
		})
		if got != tc.want {
			t.Errorf("match %v: committed %d, want %d", tc.match, got, tc.want)
		}
	}
	if got := (majority{}).committedIndex(func(NodeID) uint64 { return 9 }); got != 0 {
		t.Errorf("empty set committed %d", got)
	}
}

func TestMajorityHasQuorum(t *testing.T) {
	for _, tc := range []struct {
		voters, ok int
		want       bool
	}{
		{1, 0, false}, {1, 1, true}, {2, 1, false}, {2, 2, true},
		{3, 1, false}, {3, 2, true}, {4, 2, false}, {4, 3, true}, {5, 2, false}, {5, 3, true},
	} {
		m := voterSet(tc.voters)
		okSet := map[NodeID]bool{}
		for _, id := range m[:tc.ok] {
			okSet[id] = true
		}
		if got := m.hasQuorum(func(id NodeID) bool { return okSet[id] }); got != tc.want {
			t.Errorf("%d of %d: %v, want %v", tc.ok, tc.voters, got, tc.want)
		}
	}
}
