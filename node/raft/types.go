// Package raft is the Raft consensus core: a pure, deterministic state
// machine in the style of etcd-io/raft. It owns no goroutines, clocks,
// sockets or files. The caller feeds it Tick, Step, Propose and ReadIndex,
// collects a Ready batch of effects, performs them in order (persist, then
// send, then apply) and acknowledges with Advance.
package raft

import "fmt"

// NodeID names a member of the cluster, e.g. "n1".
type NodeID string

// None is the empty NodeID: no vote, no known leader.
const None NodeID = ""

// EntryType distinguishes client commands, the leader's no-op and
// membership changes.
type EntryType uint8

const (
	// EntryNormal carries a command for the state machine.
	EntryNormal EntryType = iota
	// EntryNoop is appended by every new leader so it can commit entries
	// of earlier terms (paper §5.4.2, §8).
	EntryNoop
	// EntryConfChange carries a ConfChange (see UnmarshalConfEntry). It
	// takes effect on a node as soon as it is in the node's log (thesis
	// §4.1); the driver need not tell the core to apply it.
	EntryConfChange
)

// Entry is one slot of the replicated log.
type Entry struct {
	Term  uint64
	Index uint64
	Type  EntryType
	Data  []byte
}

// HardState is what must be durable before the node speaks: the current
// term, the vote cast in it, and the commit index (a hint, safe to lose).
type HardState struct {
	Term   uint64
	Vote   NodeID
	Commit uint64
}

// IsEmpty reports whether hs carries no information.
func (hs HardState) IsEmpty() bool { return hs == HardState{} }

// SnapshotMeta identifies the log prefix a snapshot replaces.
type SnapshotMeta struct {
	Index uint64
	Term  uint64
	// Conf is the configuration at Index.
	Conf ConfState
}

// Snapshot is the state machine's image at Meta.Index.
type Snapshot struct {
	Meta SnapshotMeta
	Data []byte
}

// IsEmpty reports whether s is the zero snapshot.
func (s Snapshot) IsEmpty() bool { return s.Meta.Index == 0 }

// MessageType enumerates the Raft RPCs and the node-local inputs that
// travel through Step.
type MessageType uint8

const (
	MsgApp           MessageType = iota + 1 // AppendEntries request
	MsgAppResp                              // AppendEntries response
	MsgVote                                 // RequestVote
	MsgVoteResp                             // RequestVote response
	MsgPreVote                              // PreVote (§9.6 of the thesis)
	MsgPreVoteResp                          // PreVote response
	MsgHeartbeat                            // empty AppendEntries carrying commit and a read context
	MsgHeartbeatResp                        // heartbeat acknowledgement
	MsgSnap                                 // InstallSnapshot
	MsgProp                                 // a proposal forwarded to the leader
	MsgReadIndex                            // a read-index request forwarded to the leader
	MsgReadIndexResp                        // the leader's answer to MsgReadIndex
	MsgTimeoutNow                           // leadership transfer: campaign now (thesis §3.10)
	maxMessageType
)

var messageTypeNames = [...]string{
	MsgApp: "MsgApp", MsgAppResp: "MsgAppResp", MsgVote: "MsgVote",
	MsgVoteResp: "MsgVoteResp", MsgPreVote: "MsgPreVote",
	MsgPreVoteResp: "MsgPreVoteResp", MsgHeartbeat: "MsgHeartbeat",
	MsgHeartbeatResp: "MsgHeartbeatResp", MsgSnap: "MsgSnap",
	MsgProp: "MsgProp", MsgReadIndex: "MsgReadIndex",
	MsgReadIndexResp: "MsgReadIndexResp", MsgTimeoutNow: "MsgTimeoutNow",
}

func (t MessageType) String() string {
	if t > 0 && t < maxMessageType {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// Valid reports whether t is a known message type.
func (t MessageType) Valid() bool { return t > 0 && t < maxMessageType }

// Message is a Raft RPC between peers. Fields not used by a type are zero.
type Message struct {
	Type MessageType
	From NodeID
	To   NodeID
	Term uint64
	// LogTerm and Index: for MsgApp the entry preceding Entries; for votes
	// the candidate's last entry; for MsgAppResp the index acknowledged or,
	// when Reject, the index rejected.
	LogTerm uint64
	Index   uint64
	Entries []Entry
	Commit  uint64
	Reject  bool
	// RejectHint is the follower's suggestion where to retry (§5.3
	// optimisation): the last index it has with a term <= LogTerm, and
	// LogTerm of that rejection is the term at that index.
	RejectHint uint64
	Snapshot   *Snapshot
	// Context carries a read request's identity through the quorum round;
	// on a MsgVote, transferContext marks the campaign of a leadership
	// transfer, which voters grant despite the CheckQuorum lease.
	Context []byte
}

// StateType is a node's role.
type StateType uint8

const (
	StateFollower StateType = iota
	StateCandidate
	StateLeader
	StatePreCandidate
)

func (s StateType) String() string {
	switch s {
	case StateFollower:
		return "follower"
	case StateCandidate:
		return "candidate"
	case StateLeader:
		return "leader"
	case StatePreCandidate:
		return "precandidate"
	}
	return fmt.Sprintf("StateType(%d)", uint8(s))
}

// SoftState is volatile information useful to the driver; it need not be
// persisted.
type SoftState struct {
	Lead  NodeID
	State StateType
}

// ReadState answers a ReadIndex request: once the state machine has applied
// Index, a read carrying RequestCtx may be served.
type ReadState struct {
	Index      uint64
	RequestCtx []byte
}

// Ready is a batch of effects the driver must carry out, in this order:
// persist HardState, Snapshot and Entries (durably); send Messages; apply
// CommittedEntries; then call Advance.
type Ready struct {
	*SoftState // nil when unchanged
	HardState  // empty when unchanged
	// Snapshot to persist and restore into the state machine (empty if none).
	Snapshot Snapshot
	// Entries to append to stable storage. An entry whose index is already
	// stored replaces it and everything after it.
	Entries []Entry
	// Messages to send once the above is durable.
	Messages []Message
	// CommittedEntries to apply to the state machine, in order.
	CommittedEntries []Entry
	// ReadStates answered since the last Ready.
	ReadStates []ReadState
	// DroppedReads are read contexts the node gave up on (leadership lost
	// or no leader): the reads surely did not happen and may be retried.
	DroppedReads [][]byte
	// DroppedProposals are proposals that were never appended to any log.
	DroppedProposals [][]byte
}

// ContainsUpdates reports whether rd needs the driver's attention.
func (rd Ready) ContainsUpdates() bool {
	return rd.SoftState != nil || !rd.HardState.IsEmpty() || !rd.Snapshot.IsEmpty() ||
		len(rd.Entries) > 0 || len(rd.Messages) > 0 || len(rd.CommittedEntries) > 0 ||
		len(rd.ReadStates) > 0 || len(rd.DroppedReads) > 0 || len(rd.DroppedProposals) > 0
}
