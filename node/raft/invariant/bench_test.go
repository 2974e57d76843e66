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
// five-node cluster: a step is one Observe. In "idle" no entry is added
// (ticks, heartbeats); in "append-every-N" the leader appends an entry
// every N steps (N a multiple of the cluster size, as the leader takes
// every fifth step), the followers catch up and the commit index follows one
// entry behind, as in the simulator between faults. Logs grow with b.N,
// so the figures also show the cost does not grow with the log.
func BenchmarkObserve(b *testing.B) {
	for _, every := range []int{0, 50, 5} {
		name := "idle"
		if every > 0 {
			name = fmt.Sprintf("append-every-%d", every)
		}
		b.Run(name, func(b *testing.B) { benchObserve(b, every) })
	}
}

func benchObserve(b *testing.B, every int) {
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
	for range 100 {
		all.push(raft.Entry{Term: 1, Index: all.len() + 1, Data: data})
	}
	for _, f := range nodes {
		f.n, f.st.Commit = all.len(), all.len()
	}
	step := 0
	b.ReportAllocs()
	for b.Loop() {
		f := nodes[step%n]
		if f == leader && every > 0 && step%every == 0 {
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
}

// BenchmarkEntryHash hashes a register write as node/kv encodes one:
// every node's new entries are hashed once each, and again when they
// are seen committed.
func BenchmarkEntryHash(b *testing.B) {
	e := raft.Entry{Term: 3, Index: 1200, Type: raft.EntryNormal, Data: []byte("\x01\x02\x02n1\xd2\x09\x08client-7\x2ak12\x54")}
	var sink uint64
	for b.Loop() {
		sink += entryHash(e)
	}
	if sink == 0 {
		b.Log(sink) // keeps the loop
	}
}
