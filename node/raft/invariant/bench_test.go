package invariant

import (
	"fmt"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// prefixView is a node whose log is the first n entries of a shared log,
// stored in chunks so that growing it costs the benchmark nothing.
type prefixView struct {
	st  raft.Status
	all *chunked[raft.Entry]
	n   uint64
}

func (p *prefixView) Status() raft.Status {
	st := p.st
	st.FirstIndex, st.LastIndex = 1, p.n
	return st
}

func (p *prefixView) LogTerm(i uint64) (uint64, bool) {
	switch {
	case i == 0:
		return 0, true
	case i > p.n:
		return 0, false
	}
	return p.all.at(i - 1).Term, true
}

func (p *prefixView) LogEntry(i uint64) (raft.Entry, bool) {
	if i == 0 || i > p.n {
		return raft.Entry{}, false
	}
	return *p.all.at(i - 1), true
}

// BenchmarkObserve measures the checker's cost per node step in a steady
// five-node cluster: a step is one Observe; every tenth step the leader
// appends an entry; followers catch up and the commit index follows one
// entry behind, as in the simulator between faults. Logs grow with b.N,
// so the figure also shows the cost does not grow with the log.
func BenchmarkObserve(b *testing.B) {
	const n = 5
	all := &chunked[raft.Entry]{}
	nodes := make([]*prefixView, n)
	for i := range nodes {
		id := raft.NodeID(fmt.Sprintf("n%d", i+1))
		nodes[i] = &prefixView{st: raft.Status{ID: id, Term: 1, Vote: "n1", Lead: "n1", State: raft.StateFollower}, all: all}
	}
	leader := nodes[0]
	leader.st.State = raft.StateLeader
	c := New()
	data := []byte("write k7 42 client 3 seq 9")
	step := 0
	b.ReportAllocs()
	for b.Loop() {
		f := nodes[step%n]
		if f == leader && step%10 == 0 {
			all.push(raft.Entry{Term: 1, Index: all.len() + 1, Data: data})
			leader.n = all.len()
			leader.st.Commit = leader.n - 1
		} else if f != leader {
			f.n = leader.n
			f.st.Commit = leader.st.Commit
		}
		if err := c.Observe(f.st.ID, f); err != nil {
			b.Fatal(err)
		}
		step++
	}
	b.ReportMetric(float64(c.Committed()), "entries")
}
