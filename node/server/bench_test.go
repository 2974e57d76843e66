package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/raftcheck/raftcheck/workload"
)

// BenchmarkClusterWrites runs 64 concurrent HTTP writers against the
// leader of an in-process three-node cluster on loopback and real disk,
// each on its own connection (net/http, one request at a time per
// connection) and all sharing 8 pipelined connections. Besides time per
// write it reports what does not depend on how busy the machine is:
// fsyncs and peer messages per write, summed over the nodes.
func BenchmarkClusterWrites(b *testing.B) { benchClients(b, false) }

// BenchmarkClusterReads is the same with linearizable reads (ReadIndex
// rounds, which many reads share).
func BenchmarkClusterReads(b *testing.B) { benchClients(b, true) }

func benchClients(b *testing.B, reads bool) {
	const writers = 64
	b.Run("conn-per-client", func(b *testing.B) {
		benchCluster(b, reads, func(addr string) workload.Client {
			return workload.NewRaftnodeClient(addr, workload.NewHTTPClient(writers))
		})
	})
	b.Run("pipelined-8", func(b *testing.B) {
		benchCluster(b, reads, func(addr string) workload.Client {
			pc := workload.NewPipelinedClient(addr, 4)
			b.Cleanup(pc.Close)
			return pc
		})
	})
}

func benchCluster(b *testing.B, reads bool, client func(addr string) workload.Client) {
	const writers = 64
	c := startCluster(b, 3)
	l := c.leader()
	cl := client(strings.TrimPrefix(l.base, "http://"))
	fsyncs0, msgs0 := clusterCounters(b, c)
	b.ResetTimer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	next := make(chan int)
	for i := range writers {
		wg.Go(func() {
			for n := range next {
				var r workload.Result
				if reads {
					r = cl.Read(context.Background(), fmt.Sprint("k", i))
				} else {
					r = cl.Write(context.Background(), fmt.Sprint("k", i), int64(n), workload.Session{})
				}
				if r.Outcome != workload.OK {
					mu.Lock()
					failed = fmt.Errorf("operation: %s: %v", r.Outcome, r.Err)
					mu.Unlock()
				}
			}
		})
	}
	for n := range b.N {
		next <- n
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	if failed != nil {
		b.Fatal(failed)
	}
	fsyncs, msgs := clusterCounters(b, c)
	b.ReportMetric((fsyncs-fsyncs0)/float64(b.N), "fsyncs/op")
	b.ReportMetric((msgs-msgs0)/float64(b.N), "msgs/op")
}

// clusterCounters sums the nodes' fsyncs and peer messages sent, from
// their /metrics.
func clusterCounters(b *testing.B, c *testCluster) (fsyncs, msgs float64) {
	for _, tn := range c.nodes {
		resp, err := http.Get(tn.base + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(body), "\n") {
			name, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			v, _ := strconv.ParseFloat(value, 64)
			switch name {
			case "raftnode_wal_fsyncs_total":
				fsyncs += v
			case "raftnode_peer_messages_sent_total":
				msgs += v
			}
		}
	}
	return fsyncs, msgs
}
