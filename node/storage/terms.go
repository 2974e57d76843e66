package storage

import (
	"sort"

	"github.com/raftcheck/raftcheck/node/raft"
)

// termRuns remembers the term of every index of the live log as runs of
// equal terms. Storage keeps no entries in memory (the Raft core has its
// own copy) but must answer "does the log hold index i with term t?" when
// a snapshot arrives; terms change rarely, so this stays tiny however long
// the log grows.
type termRuns struct {
	// runs[k] covers indices [runs[k].start, runs[k+1].start), the last
	// run up to last. Empty when the log holds no entries.
	runs []termRun
	// last is the index of the last entry, or of the snapshot when the log
	// is empty.
	last uint64
}

type termRun struct{ start, term uint64 }

// reset empties the log, which now ends at last.
func (t *termRuns) reset(last uint64) {
	t.runs = t.runs[:0]
	t.last = last
}

// append adds ents, which are contiguous and start at most at last+1,
// first cutting off everything from ents[0].Index on.
func (t *termRuns) append(ents []raft.Entry) {
	if len(ents) == 0 {
		return
	}
	from := ents[0].Index
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].start >= from })
	t.runs = t.runs[:k]
	for _, e := range ents {
		if n := len(t.runs); n == 0 || t.runs[n-1].term != e.Term {
			t.runs = append(t.runs, termRun{start: e.Index, term: e.Term})
		}
	}
	t.last = ents[len(ents)-1].Index
}

// term returns the term of entry i, if the log holds it.
func (t *termRuns) term(i uint64) (uint64, bool) {
	if len(t.runs) == 0 || i < t.runs[0].start || i > t.last {
		return 0, false
	}
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].start > i })
	return t.runs[k-1].term, true
}

// compact forgets the entries up to and including i.
func (t *termRuns) compact(i uint64) {
	if i >= t.last {
		t.reset(i)
		return
	}
	k := sort.Search(len(t.runs), func(k int) bool { return t.runs[k].start > i })
	// Run k-1 contains i; it survives from i+1 on.
	if k > 0 {
		t.runs[k-1].start = i + 1
		t.runs = append(t.runs[:0], t.runs[k-1:]...)
	}
}
