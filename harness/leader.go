package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/workload"
)

// statusTimeout bounds one status question: a paused or cut-off node
// must not hold up the nemesis or the sampler.
const statusTimeout = 500 * time.Millisecond

// statuses asks every node for its status at once; a node that does not
// answer has ok false.
func (r *run) statuses(ctx context.Context) ([]NodeStatus, []bool) {
	sts := make([]NodeStatus, len(r.nodes))
	ok := make([]bool, len(r.nodes))
	asks := make([]func(), len(r.nodes))
	for i, n := range r.nodes {
		asks[i] = func() {
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st, err := r.b.Status(sctx, n)
			sts[i], ok[i] = st, err == nil
		}
	}
	r.rt.Parallel(asks...)
	return sts, ok
}

// leader is the one leader rule: among the nodes that answer, the one
// that claims leadership in the highest term. A deposed leader that has
// not heard of its successor claims an older term, so it is passed over;
// a leader just elected is the leader at once, before its first
// heartbeat, so a fault aimed at the leader can hit a leader at its most
// fragile instant, as the simulator's strikes do.
func (r *run) leader(ctx context.Context) (string, error) {
	sts, ok := r.statuses(ctx)
	l := LeaderOf(r.nodes, sts, ok)
	r.noteLeader(l)
	return l, ctx.Err()
}

func (r *run) noteLeader(l string) {
	if l != "" {
		r.mu.Lock()
		r.sawLeader = true
		r.mu.Unlock()
	}
}

// LeaderOf applies the leader rule to statuses of nodes (ok[i] false: no
// answer from nodes[i]). Two claimants of one term (a broken system) go
// to the first in node order, deterministically.
func LeaderOf(nodes []string, sts []NodeStatus, ok []bool) string {
	best, term := "", uint64(0)
	for i, n := range nodes {
		if ok[i] && sts[i].Role == "leader" && (best == "" || sts[i].Term > term) {
			best, term = n, sts[i].Term
		}
	}
	return best
}

// sample records every node's status every StatusEvery until ctx ends,
// for statuses.jsonl (the report says who led when).
func (r *run) sample(ctx context.Context) {
	for ctx.Err() == nil {
		now := int64(r.rt.Now())
		sts, ok := r.statuses(ctx)
		if ctx.Err() != nil {
			return // cut short: not a sample of the cluster
		}
		r.noteLeader(LeaderOf(r.nodes, sts, ok))
		r.mu.Lock()
		for i, n := range r.nodes {
			s := store.StatusSample{Time: now, Node: n, Up: ok[i]}
			if ok[i] {
				s.Role, s.Term, s.Leader, s.Commit = sts[i].Role, sts[i].Term, sts[i].Leader, sts[i].Commit
			}
			r.samples = append(r.samples, s)
		}
		r.mu.Unlock()
		if r.rt.Sleep(ctx, r.opts.StatusEvery) != nil {
			return
		}
	}
}

// progress shows the run's counts and the faults in force until ctx
// ends: rewritten in place on a terminal, plain lines otherwise.
func (r *run) progress(ctx context.Context) {
	if r.opts.Progress == nil {
		return
	}
	every, format := r.opts.ProgressEvery, "%6.1fs  ok %-6d fail %-6d info %-4d  faults: %s\n"
	if r.opts.ProgressInPlace {
		every, format = time.Second, "\r%6.1fs  ok %-6d fail %-6d info %-4d  faults: %-40s"
	}
	for {
		if r.rt.Sleep(ctx, every) != nil {
			break
		}
		c := r.rec.Counts()
		fmt.Fprintf(r.opts.Progress, format, r.rt.Now().Seconds(), c[workload.OK], c[workload.Fail], c[workload.Info], r.inForce())
	}
	if r.opts.ProgressInPlace {
		fmt.Fprintln(r.opts.Progress)
	}
}
