package sim

import (
	"math/rand/v2"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
)

// NetConfig shapes the simulated network.
type NetConfig struct {
	// Latency of a message is drawn uniformly from [MinLatency,
	// MaxLatency]; a TailFrac of messages take up to TailLatency instead,
	// which also reorders them.
	MinLatency, MaxLatency time.Duration
	TailFrac               float64
	TailLatency            time.Duration
	// Loss and Duplicate are per-message probabilities.
	Loss, Duplicate float64
}

// DefaultNet is a LAN with occasional slow, lost and duplicated packets.
var DefaultNet = NetConfig{
	MinLatency: 100 * time.Microsecond, MaxLatency: 2 * time.Millisecond,
	TailFrac: 0.01, TailLatency: 50 * time.Millisecond,
	Loss: 0.01, Duplicate: 0.01,
}

type network struct {
	cfg    NetConfig
	rng    *rand.Rand
	clock  *clock
	grudge nemesis.Grudge
	stats  NetStats
}

// NetStats counts what the network did.
type NetStats struct {
	Sent, Delivered, Lost, Cut, Duplicated uint64
}

func (n *network) latency() int64 {
	if n.rng.Float64() < n.cfg.TailFrac {
		return int64(n.cfg.MaxLatency) + n.rng.Int64N(int64(n.cfg.TailLatency-n.cfg.MaxLatency)+1)
	}
	return int64(n.cfg.MinLatency) + n.rng.Int64N(int64(n.cfg.MaxLatency-n.cfg.MinLatency)+1)
}

// send carries m to deliver, subject to partitions (checked when sent
// and when it arrives), loss, duplication and latency.
func (n *network) send(m raft.Message, deliver func(raft.Message)) {
	n.stats.Sent++
	if n.grudge.Cuts(string(m.From), string(m.To)) {
		n.stats.Cut++
		return
	}
	if n.rng.Float64() < n.cfg.Loss {
		n.stats.Lost++
		return
	}
	copies := 1
	if n.rng.Float64() < n.cfg.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	for range copies {
		n.clock.after(n.latency(), func() {
			if n.grudge.Cuts(string(m.From), string(m.To)) {
				n.stats.Cut++
				return
			}
			n.stats.Delivered++
			deliver(m)
		})
	}
}
