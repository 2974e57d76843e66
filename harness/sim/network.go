package sim

import (
	"fmt"
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
	MinLatency  time.Duration `json:"min_latency_ns"`
	MaxLatency  time.Duration `json:"max_latency_ns"`
	TailFrac    float64       `json:"tail_frac"`
	TailLatency time.Duration `json:"tail_latency_ns"`
	// Loss and Duplicate are per-message probabilities.
	Loss      float64 `json:"loss"`
	Duplicate float64 `json:"duplicate"`
}

func (c NetConfig) validate() error {
	prob := func(p float64) bool { return p >= 0 && p <= 1 }
	if c.MinLatency < 0 || c.MaxLatency < c.MinLatency || c.TailLatency < c.MaxLatency ||
		!prob(c.TailFrac) || !prob(c.Loss) || !prob(c.Duplicate) {
		return fmt.Errorf("sim: network %+v: want 0 <= min <= max <= tail latency and probabilities in [0,1]", c)
	}
	return nil
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
