package raft

import "slices"

// voteResult is the outcome of an election as far as the votes tell.
type voteResult uint8

const (
	votePending voteResult = iota // neither side has a majority yet
	voteLost                      // enough rejections that a majority is impossible
	voteWon
)

// majority is the voter set of one configuration; a decision needs more
// than half of it. Every place the core counts a quorum asks a majority,
// so joint consensus (thesis §4.3), where a decision needs a majority of
// the old and of the new set, can replace it by a pair of sets: voteResult
// is won when both are won and lost when either is lost, committedIndex
// is the smaller of the two, hasQuorum the conjunction.
type majority []NodeID

// size is the smallest number of voters that forms a majority.
func (m majority) size() int { return len(m)/2 + 1 }

// hasQuorum reports whether the voters for which ok holds form a majority.
func (m majority) hasQuorum(ok func(NodeID) bool) bool {
	n := 0
	for _, id := range m {
		if ok(id) {
			n++
		}
	}
	return n >= m.size()
}

// voteResult tallies votes (true: granted, false: rejected); voters that
// have not answered count as pending, and non-voters are ignored.
func (m majority) voteResult(votes map[NodeID]bool) voteResult {
	yes, missing := 0, 0
	for _, id := range m {
		v, ok := votes[id]
		switch {
		case !ok:
			missing++
		case v:
			yes++
		}
	}
	switch {
	case yes >= m.size():
		return voteWon
	case yes+missing >= m.size():
		return votePending
	}
	return voteLost
}

// committedIndex is the largest index that a majority has acknowledged:
// match gives each voter's highest acknowledged index. An empty set
// commits nothing.
func (m majority) committedIndex(match func(NodeID) uint64) uint64 {
	if len(m) == 0 {
		return 0
	}
	var buf [7]uint64
	idx := buf[:0]
	for _, id := range m {
		idx = append(idx, match(id))
	}
	slices.Sort(idx)
	// Sorted ascending, the entry size() places from the top is held by
	// at least size() voters.
	return idx[len(idx)-m.size()]
}
