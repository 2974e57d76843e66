package sim

import (
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
)

// BenchmarkSimulate measures simulated seconds per wall second for the
// issue's target: 5 nodes, 200 ops/s, every fault kind. Report the
// figure as sim-s/wall-s.
func BenchmarkSimulate(b *testing.B) {
	var virtual time.Duration
	start := time.Now()
	for i := range b.N {
		_, st, err := Run(Config{Seed: uint64(i + 1), Nodes: 5, Rate: 200, Concurrency: 10,
			Nemesis: nemesis.Kinds, TimeLimit: 30 * time.Second, Vary: true})
		if err != nil {
			b.Fatal(err)
		}
		virtual += st.VirtualTime
	}
	b.ReportMetric(virtual.Seconds()/time.Since(start).Seconds(), "sim-s/wall-s")
}
