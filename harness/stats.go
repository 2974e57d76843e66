package harness

import (
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Latencies computes latency by operation (and "all") over operations
// that completed ok, from the history itself.
func Latencies(events []checker.Event) map[string]store.Latency {
	pending := map[int]checker.Event{}
	by := map[string][]int64{}
	for _, e := range events {
		if e.Nemesis {
			continue
		}
		if e.Type == checker.Invoke {
			pending[e.Process] = e
			continue
		}
		inv, ok := pending[e.Process]
		delete(pending, e.Process)
		if !ok || e.Type != checker.OK {
			continue
		}
		d := e.Time - inv.Time
		by[e.F] = append(by[e.F], d)
		by["all"] = append(by["all"], d)
	}
	out := map[string]store.Latency{}
	for f, ds := range by {
		slices.Sort(ds)
		q := func(p float64) store.Duration { return store.Duration(time.Duration(ds[int(p*float64(len(ds)-1))])) }
		out[f] = store.Latency{Count: len(ds), P50: q(0.5), P99: q(0.99), Max: store.Duration(ds[len(ds)-1])}
	}
	return out
}
