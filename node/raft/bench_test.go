package raft_test

import (
	"fmt"
	"testing"
)

// BenchmarkCheckedCluster runs a five-node cluster in steady state (each
// op: every node ticks, the leader takes a proposal and a read, the
// network delivers everything) with and without the invariant checker.
// steps/op counts node steps, each of which the checker observes; the
// difference in ns/op divided by steps/op is the checker's cost per step
// on real cores.
func BenchmarkCheckedCluster(b *testing.B) {
	for _, checked := range []bool{false, true} {
		b.Run(fmt.Sprintf("checked=%v", checked), func(b *testing.B) {
			e := newEnv(5, defaultConfig(), 1)
			if !checked {
				e.chk = nil
			}
			for range 40 {
				for _, id := range e.ids {
					e.tick(id)
				}
				if err := e.stabilize(); err != nil {
					b.Fatal(err)
				}
			}
			l := e.leader()
			if l == "" {
				b.Fatal("no leader")
			}
			e.steps = 0
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				for _, id := range e.ids {
					e.tick(id)
				}
				i++
				e.propose(l, fmt.Sprintf("w%d", i))
				e.readIndex(l, fmt.Sprintf("r%d", i))
				if err := e.stabilize(); err != nil {
					b.Fatal(err)
				}
				if e.err != nil {
					b.Fatal(e.err)
				}
			}
			b.ReportMetric(float64(e.steps)/float64(b.N), "steps/op")
		})
	}
}
