package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"context"
	"fmt"
	"time"

	"github.com/raftcheck/raftcheck/internal/proccluster"
)

// failoverResult is one trial: kill -9 of the leader, then the time to
// the first write acknowledged through any survivor.
type failoverResult struct {
	Killed        string        `json:"killed"`
	FirstWriteVia string        `json:"first_write_via"`
	Duration      time.Duration `json:"-"`
	Ms            float64       `json:"ms"`
}

// Probing: a fresh write to every survivor this often, each given up
// after probeTimeout. The interval bounds the measurement's resolution.
const (
	probeInterval = 5 * time.Millisecond
	probeTimeout  = 500 * time.Millisecond
)

// failover runs one trial on a stable cluster and leaves it stable again,
// with the killed node restarted and caught up.
func failover(ctx context.Context, c *proccluster.Cluster) (failoverResult, error) {
	leader, err := waitStable(ctx, c)
	if err != nil {
		return failoverResult{}, err
	}
	var survivors []int
	for i := range c.Nodes {
		if i != leader {
			survivors = append(survivors, i)
		}
	}
	if err := c.Kill(leader); err != nil {
		return failoverResult{}, err
	}
	killed := time.Now()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	via, _, err := c.ProbeWrite(pctx, survivors, "failover-probe", probeInterval, probeTimeout)
	took := time.Since(killed)
	cancel()
	if err != nil {
		return failoverResult{}, fmt.Errorf("after killing leader %s: %w", c.Nodes[leader].ID, err)
	}
	if err := c.StartNode(leader); err != nil {
		return failoverResult{}, err
	}
	if _, err := waitStable(ctx, c); err != nil {
		return failoverResult{}, fmt.Errorf("after restarting %s: %w", c.Nodes[leader].ID, err)
	}
	return failoverResult{Killed: c.Nodes[leader].ID, FirstWriteVia: c.Nodes[via].ID,
		Duration: took, Ms: benchstat.Ms(took)}, nil
}
