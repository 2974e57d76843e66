package harness

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// Stream returns the named sub-stream of a run's seed. Each concern
// (workload, each client, the nemesis, each node's boot, the network)
// draws from its own, so adding a client does not reshuffle the faults.
func Stream(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// client is one process slot until end: think, invoke, record, repeat.
// A process whose operation ended in info never invokes again (Jepsen's
// rule); a fresh process number takes the slot.
func (r *run) client(ctx context.Context, slot int, end time.Duration) {
	rng := Stream(r.cfg.Seed, fmt.Sprintf("client/%d", slot))
	process := slot
	var seq uint64
	// Exponential think times: all clients together make Rate ops/s.
	mean := float64(r.cfg.Concurrency) / r.cfg.Rate * float64(time.Second)
	for {
		think := time.Duration(rng.ExpFloat64() * mean)
		if r.rt.Now()+think >= end {
			return
		}
		if r.rt.Sleep(ctx, think) != nil {
			return
		}
		r.genMu.Lock()
		op := r.gen.Next()
		r.genMu.Unlock()
		seq++
		res := r.perform(ctx, slot, process, op, workload.Session{ClientID: fmt.Sprintf("p%d", process), Seq: seq})
		if res.Outcome == workload.Info {
			process, seq = r.newProcess(), 0
		}
	}
}

// perform records and runs one operation: the one retry policy. An
// attempt goes to the slot's own node, a retry to the next one. A write
// or cas whose outcome is unknown is retried with the same session, so
// the system can tell the retry from a new operation; a read has no
// effect, so anything but ok is a fail.
func (r *run) perform(ctx context.Context, slot, process int, op workload.Op, s workload.Session) workload.Result {
	r.rec.Invoke(process, op)
	var res workload.Result
	for attempt := 0; ; attempt++ {
		targets := r.targets()
		node := targets[(slot+attempt)%len(targets)]
		// In-flight operations finish even when the phase ends; only an
		// interrupt cuts them short.
		res = r.b.Invoke(ctx, node, op, s, time.Duration(r.cfg.ClientTimeout))
		if op.F == checker.Read {
			break
		}
		final, again := workload.Settle(attempt, res)
		res = final
		if !again || attempt >= r.cfg.Retries {
			break
		}
	}
	if op.F == checker.Read && res.Outcome != workload.OK {
		res.Outcome = workload.Fail
	}
	r.rec.Complete(process, op, res)
	return res
}

// targets are the nodes clients address: every slot but those removed
// from the configuration (their processes are stopped until a new member
// takes the slot). An operation already at a slot as it is removed gets
// whatever answer the backend gives, fail or info, as it happened.
func (r *run) targets() []string {
	mf, ok := r.b.(nemesis.MembershipFaults)
	if !ok {
		return r.nodes
	}
	removed := mf.Removed()
	if len(removed) == 0 {
		return r.nodes
	}
	out := make([]string, 0, len(r.nodes))
	for _, n := range r.nodes {
		if !slices.Contains(removed, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return r.nodes
	}
	return out
}

// finalReads reads every key used, each in its own process, retrying a
// failed read a few times.
func (r *run) finalReads(ctx context.Context) {
	r.genMu.Lock()
	keys := r.gen.Keys()
	r.genMu.Unlock()
	reads := make([]func(), len(keys))
	for i, key := range keys {
		process := r.newProcess()
		reads[i] = func() {
			// Spread the reads a little, as clients would arrive.
			if r.rt.Sleep(ctx, time.Duration(i)*time.Millisecond) != nil {
				return
			}
			op := workload.Op{F: checker.Read, Key: key}
			for try := 0; try < 5; try++ {
				if r.perform(ctx, i+try, process, op, workload.Session{}).Outcome == workload.OK {
					return
				}
				if r.rt.Sleep(ctx, 500*time.Millisecond) != nil {
					return
				}
			}
		}
	}
	r.rt.Parallel(reads...)
}
