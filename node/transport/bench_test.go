package transport

import (
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

// BenchmarkThroughput measures messages per second from n1 to n2 on
// loopback, each a MsgApp with one 64-byte entry, sent in batches of 64
// the way a leader's Ready hands them over. The sender keeps at most a
// queue's worth in flight so nothing is dropped.
func BenchmarkThroughput(b *testing.B) {
	const batchSize, window = 64, 2048
	trs := cluster(b, Config{QueueSize: 4096}, "n1", "n2")
	n1, n2 := trs["n1"], trs["n2"]
	batch := make([]raft.Message, batchSize)
	for i := range batch {
		batch[i] = app("n1", "n2", uint64(i), string(make([]byte, 64)))
	}
	done := make(chan int)
	go func() {
		got := 0
		for got < b.N {
			<-n2.Receive()
			got++
		}
		done <- got
	}()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		if sent-int(n2.Stats().Received) > window {
			time.Sleep(10 * time.Microsecond)
			continue
		}
		k := min(batchSize, b.N-sent)
		n1.Send(batch[:k])
		sent += k
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if s := n1.Stats(); s.Dropped != 0 {
		b.Fatalf("dropped %d", s.Dropped)
	}
}
