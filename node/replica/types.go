// Package replica joins the Raft core, the durable log and the register
// state machine, and answers client requests. It is the one place that
// turns Ready batches into effects. It does no I/O of its own: storage and
// the network come in as interfaces, time as Tick, so the server runs it
// on real disk, TCP and timers and the simulator runs the very same code
// in virtual time. With a Writer (async.go) persistence completes later,
// as a Durable event that both drivers deliver: the server from its
// writer goroutine, the simulator after a virtual fsync.
package replica

import (
	"fmt"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Storage is the durable log the replica writes through.
type Storage interface {
	// Append writes hard state and entries; an entry at an index already
	// stored replaces it and everything after it.
	Append(hs raft.HardState, ents []raft.Entry) error
	// Sync makes everything appended durable.
	Sync() error
	// SaveSnapshot durably stores a snapshot and may drop the log it covers.
	SaveSnapshot(s raft.Snapshot) error
}

// Sender delivers messages to peers, best effort: Raft tolerates loss.
type Sender interface {
	Send(msgs []raft.Message)
}

// Op is a client operation.
type Op uint8

const (
	OpRead Op = iota + 1
	OpWrite
	OpCAS
)

func (o Op) String() string {
	switch o {
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	case OpCAS:
		return "cas"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Request is one client operation.
type Request struct {
	Op       Op
	Key      string
	Value    int64 // write
	From, To int64 // cas
	// ClientID and Seq identify the operation across retries so it takes
	// effect at most once. Empty ClientID: no deduplication.
	ClientID string
	Seq      uint64
}

// Outcome says whether an operation took effect: Jepsen's ok, fail, info.
type Outcome uint8

const (
	// OK: the operation took effect (for a read: it observed Value).
	OK Outcome = iota + 1
	// Fail: the operation surely did not take effect and never will.
	Fail
	// Info: the operation may or may not have taken effect, now or later.
	Info
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Info:
		return "info"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Response answers a Request.
type Response struct {
	Outcome Outcome
	// Value and Present: the value read, written, or (for a cas that did
	// not match) found; Present is false for a never-written key.
	Value   int64
	Present bool
	// Reason explains a Fail or Info outcome, for humans.
	Reason string
	// CASMismatch marks the Fail of a cas whose expected value differed.
	CASMismatch bool
	// Leader is the node this replica believes leads, if any.
	Leader raft.NodeID
}

// Unsafe modes of the replica and state machine, for proving the harness.
type Unsafe struct {
	// StaleReads serves reads from the local state, without ReadIndex.
	StaleReads bool
	// AckBeforePersist sends messages and applies entries before writing
	// them: a crash then loses acknowledged entries.
	AckBeforePersist bool
	// ForgetVote never writes the vote to disk.
	ForgetVote bool
	// NoDedup applies retried commands again.
	NoDedup bool
	// NoFsync never makes anything durable: the replica never calls
	// Storage.Sync, and the server opens its storage without fsync. Writes
	// are acknowledged from the page cache; a power failure of a majority
	// loses them (a kill alone does not, on a real disk: the kernel keeps
	// the pages; the simulator's disk and lazyfs model the power failure).
	NoFsync bool
}

// Status is the replica's state for observers.
type Status struct {
	ID      raft.NodeID
	Role    string
	Term    uint64
	Leader  raft.NodeID
	Commit  uint64
	Applied uint64
	// LastIndex and SnapshotIndex describe the log held.
	LastIndex     uint64
	SnapshotIndex uint64
	Pending       int
	// Voters and Learners: the configuration in force (the latest in
	// the log).
	Voters, Learners []raft.NodeID
}

// Stats counts what the replica did, for metrics.
type Stats struct {
	Proposals, Reads, Applied, Snapshots, Restores uint64
	LeaderChanges                                  uint64
	// ConfChanges counts membership changes this node proposed.
	ConfChanges uint64
}
