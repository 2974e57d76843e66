package replica

import (
	"fmt"
	"testing"
)

// BenchmarkWriteBatch measures the replica's write path in a three-node
// in-memory cluster: 64 writes submitted at the leader together, then
// the cluster runs until all are answered. Reports peer messages and
// fsyncs per write besides the CPU time.
func BenchmarkWriteBatch(b *testing.B) {
	for _, async := range []bool{false, true} {
		name := "sync"
		if async {
			name = "async"
		}
		b.Run(name, func(b *testing.B) {
			const batch = 64
			c := newTestCluster(b, async, Unsafe{})
			c.snapshot = 1 << 20
			for _, id := range c.ids {
				c.boot(id)
			}
			l := c.settle()
			msgs0, syncs0 := c.delivered, c.syncs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				answered := 0
				for j := range batch {
					c.reps[l].Submit(Request{Op: OpWrite, Key: fmt.Sprint("k", j%8), Value: int64(i + j)},
						func(r Response) {
							if r.Outcome != OK {
								b.Fatalf("write: %+v", r)
							}
							answered++
						})
				}
				c.process(l)
				c.flush()
				if answered != batch {
					b.Fatalf("%d of %d writes answered", answered, batch)
				}
			}
			writes := float64((b.N + batch - 1) / batch * batch)
			b.ReportMetric(float64(c.delivered-msgs0)/writes, "msgs/write")
			b.ReportMetric(float64(c.syncs()-syncs0)/writes, "fsyncs/write")
		})
	}
}
