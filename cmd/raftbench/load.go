package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

type opKind string

const (
	opWrite opKind = "write"
	opRead  opKind = "read"
)

// loadResult is one throughput run.
type loadResult struct {
	Op        opKind  `json:"op"`
	Clients   int     `json:"clients"`
	OK        int     `json:"ok"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Latency   latency `json:"latency"`
	// FirstError describes the first operation that was not ok.
	FirstError string `json:"first_error,omitempty"`
}

// benchKey is the key client i uses.
func benchKey(i int) string { return fmt.Sprintf("bench-%d", i) }

// populate writes every key the read runs read, so they read values.
func populate(ctx context.Context, c workload.Client, keys int) error {
	for i := range keys {
		if r := c.Write(ctx, benchKey(i), int64(i), workload.Session{}); r.Outcome != workload.OK {
			return fmt.Errorf("populating %s: %s: %w", benchKey(i), r.Outcome, r.Err)
		}
	}
	return nil
}

// runLoad runs clients goroutines, each doing back-to-back operations on
// its own key for d, and reports throughput and the latency of the
// operations that succeeded.
func runLoad(ctx context.Context, c workload.Client, op opKind, clients int, d time.Duration) (loadResult, error) {
	type worker struct {
		lat      []time.Duration
		errors   int
		firstErr error
	}
	workers := make([]worker, clients)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			key := benchKey(i)
			for n := int64(1); ctx.Err() == nil && time.Now().Before(deadline); n++ {
				t0 := time.Now()
				var r workload.Result
				if op == opWrite {
					r = c.Write(ctx, key, n, workload.Session{})
				} else {
					r = c.Read(ctx, key)
				}
				took := time.Since(t0)
				if r.Outcome == workload.OK {
					w.lat = append(w.lat, took)
					continue
				}
				w.errors++
				if w.firstErr == nil {
					w.firstErr = fmt.Errorf("%s %s: %s: %w", op, key, r.Outcome, r.Err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}

	res := loadResult{Op: op, Clients: clients, Seconds: elapsed.Seconds()}
	var all []time.Duration
	for _, w := range workers {
		all = append(all, w.lat...)
		res.Errors += w.errors
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
	}
	res.OK = len(all)
	if res.OK == 0 {
		return res, fmt.Errorf("%s with %d clients: no operation succeeded; first error: %s", op, clients, res.FirstError)
	}
	res.OpsPerSec = float64(res.OK) / elapsed.Seconds()
	res.Latency = benchstat.Summarize(all)
	return res, nil
}
