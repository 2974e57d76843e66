package sim

import (
	"testing"
	"time"
)

// BenchmarkSimulate measures simulated seconds per wall second: 5 nodes,
// 200 ops/s, every fault kind. Report the figure as sim-s/wall-s.
func BenchmarkSimulate(b *testing.B) {
	var virtual time.Duration
	start := time.Now()
	for i := range b.N {
		_, fin := simulate(b, testConfig(uint64(i+1), 30*time.Second, ""))
		virtual += fin.Outcome.Duration
	}
	b.ReportMetric(virtual.Seconds()/time.Since(start).Seconds(), "sim-s/wall-s")
}
