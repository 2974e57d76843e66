package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

// scenario is one workload shape.
type scenario struct {
	Workload string  `json:"workload"` // write-only or read-heavy
	ReadFrac float64 `json:"read_frac"`
	Clients  int     `json:"clients"`
}

func (s scenario) name() string { return fmt.Sprintf("%s/%d", s.Workload, s.Clients) }

func scenarios(cfg config) []scenario {
	var out []scenario
	for _, w := range []struct {
		name string
		frac float64
	}{{"write-only", 0}, {"read-heavy", cfg.readFrac}} {
		for _, n := range cfg.clients {
			out = append(out, scenario{Workload: w.name, ReadFrac: w.frac, Clients: n})
		}
	}
	return out
}

// sample is what one load run measured.
type sample struct {
	ok, errors int
	elapsed    time.Duration
	reads      []time.Duration // latencies of ok operations
	writes     []time.Duration
	firstErr   string
}

// opTimeout bounds one operation: a slower one counts as an error.
const opTimeout = 2 * time.Second

// runLoad runs sc.Clients closed-loop workers against the leader for d,
// each on its own key (written first, so reads find a value), reads
// linearizable on both systems.
func runLoad(ctx context.Context, sys *system, leader string, sc scenario, d time.Duration) (sample, error) {
	for i := range sc.Clients {
		c := sys.client(leader, i)
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		r := c.Write(cctx, benchKey(i), 0, workload.Session{})
		cancel()
		if r.Outcome != workload.OK {
			return sample{}, fmt.Errorf("populating %s: %s: %w", benchKey(i), r.Outcome, r.Err)
		}
	}
	workers := make([]sample, sc.Clients)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			c := sys.client(leader, i)
			key := benchKey(i)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for n := int64(1); ctx.Err() == nil && time.Now().Before(deadline); n++ {
				read := rng.Float64() < sc.ReadFrac
				cctx, cancel := context.WithTimeout(ctx, opTimeout)
				t0 := time.Now()
				var r workload.Result
				if read {
					r = c.Read(cctx, key)
				} else {
					r = c.Write(cctx, key, n, workload.Session{})
				}
				took := time.Since(t0)
				cancel()
				switch {
				case r.Outcome != workload.OK:
					w.errors++
					if w.firstErr == "" {
						w.firstErr = fmt.Sprintf("%s: %v", r.Outcome, r.Err)
					}
				case read:
					w.reads = append(w.reads, took)
				default:
					w.writes = append(w.writes, took)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	s := sample{elapsed: time.Since(start)}
	for _, w := range workers {
		s.reads = append(s.reads, w.reads...)
		s.writes = append(s.writes, w.writes...)
		s.errors += w.errors
		if s.firstErr == "" {
			s.firstErr = w.firstErr
		}
	}
	s.ok = len(s.reads) + len(s.writes)
	if s.ok == 0 {
		return s, fmt.Errorf("no operation succeeded; first error: %s", s.firstErr)
	}
	return s, nil
}

func benchKey(i int) string { return fmt.Sprintf("bench-%d", i) }
