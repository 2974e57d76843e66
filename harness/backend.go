// Package harness is the one run engine: a test's phases, written once,
// over a Backend that is either the deterministic simulator (harness/sim)
// or a cluster in containers (harness/docker).
//
// A run, in order (Run):
//
//  1. for TimeLimit from the start, while the cluster forms its first
//     leader: Concurrency client processes invoke operations from the
//     seeded generator, each retried with its session at the next node
//     when its outcome is unknown (the one retry policy); beside them the
//     nemesis process injects a fault from the schedule, holds it for
//     NemesisInterval, undoes it, and rests half as long; a sampler
//     records each node's status every StatusEvery;
//  2. heal everything (heal-all), wait for a leader (none within
//     Recovery: a harness error, worded by whether the cluster ever had
//     one), and read every key once more, so a lost write shows;
//  3. hand back the history, the statuses and the fault record.
//
// Jepsen and Maelstrom compose a test from values: a generator, a nemesis,
// a checker. Here the generator (workload), the schedule (nemesis) and the
// checker (checker) are values too; what differs between backends is only
// the Backend: the cluster (nemesis.Faults plus a status and a client per
// node) and the Runtime its processes live in: real goroutines and the
// wall clock for docker; the simulator's virtual time, where exactly one
// process runs at a time and a run is a pure function of its seed.
//
// The engine never reads a clock or starts a goroutine itself: time comes
// from Runtime.Now, waiting is Runtime.Sleep, concurrency is
// Runtime.Parallel. That is what lets the same code run in virtual time.
package harness

import (
	"context"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// Runtime is where a run's processes live and what time it is there.
type Runtime interface {
	// Now is the time since the run started.
	Now() time.Duration
	// Sleep waits d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
	// Parallel runs each function as a process and returns once all of
	// them have returned.
	Parallel(fns ...func())
}

// Backend is a cluster the engine can test.
type Backend interface {
	// Faults injects and undoes faults, each at the instant it returns.
	nemesis.Faults
	Runtime() Runtime
	// Status asks a node for its own view; an error means it did not
	// answer (down, paused, cut off from the harness, or too slow).
	Status(ctx context.Context, node string) (NodeStatus, error)
	// Invoke performs one attempt of op at node, bounded by timeout. The
	// result's outcome says whether it surely happened (ok), surely did not
	// (fail), or may have (info). Retries are the engine's business.
	Invoke(ctx context.Context, node string, op workload.Op, s workload.Session, timeout time.Duration) workload.Result
	// Evidence reports whether an action just applied has taken effect,
	// and how the backend can tell.
	Evidence(ctx context.Context, a nemesis.Action) (bit bool, detail string)
	// Begin is called as the run starts, before the first leader, and
	// may start the backend's own nemeses (the simulator's strikes at
	// fragile instants), which act through act so that every fault is
	// recorded alike. It returns false if the backend's own choreography
	// replaces the engine's clock-driven schedule for this run.
	Begin(act func(nemesis.Action)) (clockNemesis bool)
	// End is called when the workload phase ends: the backend's own
	// nemeses start nothing new.
	End()
}

// InvariantChecker is implemented by a backend that checks the system's
// own invariants while it runs (the simulator checks Raft's, after every
// step of every node). A violation fails the run whatever its history.
type InvariantChecker interface {
	// Violation is the first invariant the run broke, nil if none.
	Violation() error
}

// NodeStatus is a node's own view of the cluster.
type NodeStatus struct {
	Role   string // leader, follower, candidate, ...
	Term   uint64
	Leader string // the leader it follows, "" if none
	Commit uint64
}
