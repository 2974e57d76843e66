package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

// failoverResult is one trial.
type failoverResult struct {
	Killed        string  `json:"killed"`
	FirstWriteVia string  `json:"first_write_via"`
	Ms            float64 `json:"ms"`      // kill issued -> first acknowledged write
	KillMs        float64 `json:"kill_ms"` // kill issued -> container confirmed dead
}

// Probing: a fresh write through every survivor this often, each given up
// after probeTimeout. The interval bounds the resolution.
const (
	probeInterval = 5 * time.Millisecond
	probeTimeout  = 500 * time.Millisecond
)

// failover kills the leader with SIGKILL and measures from the moment
// the kill is issued to the first write acknowledged through a survivor
// (followers forward to the leader on both systems). Probing starts once
// the container is confirmed dead, so no write can sneak through the
// dying leader. It restarts the node before it returns.
func failover(ctx context.Context, sys *system) (failoverResult, error) {
	leader, err := waitStable(ctx, sys)
	if err != nil {
		return failoverResult{}, err
	}
	// Let the last restarted node catch up before the next kill.
	time.Sleep(time.Second)
	var survivors []string
	for _, n := range sys.cl.Nodes() {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	issued := time.Now()
	if err := sys.cl.Kill(ctx, leader); err != nil {
		return failoverResult{}, err
	}
	dead := time.Since(issued)
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	via, err := probeWrite(pctx, sys, survivors)
	took := time.Since(issued)
	cancel()
	if err != nil {
		return failoverResult{}, fmt.Errorf("after killing leader %s: %w", leader, err)
	}
	if err := sys.cl.Start(ctx, leader); err != nil {
		return failoverResult{}, err
	}
	return failoverResult{Killed: leader, FirstWriteVia: via, Ms: benchstat.Ms(took), KillMs: benchstat.Ms(dead)}, nil
}

// probeWrite writes through every node every probeInterval until one
// write is acknowledged, and returns the node it went through.
func probeWrite(ctx context.Context, sys *system, nodes []string) (string, error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	won := make(chan string, 1)
	var next atomic.Int64
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	for {
		for _, n := range nodes {
			v := next.Add(1)
			wg.Go(func() {
				actx, acancel := context.WithTimeout(ctx, probeTimeout)
				defer acancel()
				if r := sys.probe(n, int(v)).Write(actx, "failover-probe", v, workload.Session{}); r.Outcome == workload.OK {
					select {
					case won <- n:
					default:
					}
				}
			})
		}
		select {
		case n := <-won:
			return n, nil
		case <-ctx.Done():
			return "", fmt.Errorf("no write acknowledged: %w", ctx.Err())
		case <-ticker.C:
		}
	}
}
