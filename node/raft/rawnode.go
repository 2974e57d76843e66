package raft

import (
	"errors"
)

// RawNode is the public face of the Raft core. It is not safe for
// concurrent use: one driver goroutine (or the simulator) owns it, and
// calls Ready and Advance as a pair with nothing in between.
type RawNode struct {
	r         *raft
	prevSoft  SoftState
	prevHard  HardState
	inReady   bool
	lastReady Ready
}

// NewRawNode creates a node from its configuration and restored state.
func NewRawNode(c Config) (*RawNode, error) {
	r, err := newRaft(c)
	if err != nil {
		return nil, err
	}
	return &RawNode{r: r, prevSoft: r.softState(), prevHard: r.hardState()}, nil
}

// Tick advances the logical clock by one tick.
func (n *RawNode) Tick() { n.r.tick() }

// Campaign starts an election now (tests and leadership hand-off).
func (n *RawNode) Campaign() { n.r.hup() }

// Step feeds a message received from a peer.
func (n *RawNode) Step(m Message) error {
	if m.From == n.r.id {
		// Local requests come through Propose and ReadIndex, and no peer
		// message is addressed from us to ourselves.
		return errors.New("raft: Step: message from our own ID")
	}
	n.r.step(m)
	return nil
}

// Propose asks to append data to the log. On the leader it returns the
// index and term the entry was appended at; a follower forwards it and
// returns zeros. ErrProposalDropped means it surely went nowhere.
func (n *RawNode) Propose(data []byte) (index, term uint64, err error) {
	r := n.r
	switch {
	case r.state == StateLeader && r.transferee != None:
		return 0, 0, errTransferring
	case r.state == StateLeader:
		index, term = r.appendEntry(Entry{Type: EntryNormal, Data: data})
		r.appendDue = true
		return index, term, nil
	case r.state == StateFollower && r.lead != None:
		r.step(Message{Type: MsgProp, From: r.id, Entries: []Entry{{Type: EntryNormal, Data: data}}})
		return 0, 0, nil
	}
	return 0, 0, errNoLeader
}

// ReadIndex requests a linearizable read point. The answer arrives as a
// ReadState carrying ctx (which must be unique), or ctx appears in
// Ready.DroppedReads when the request was surely abandoned. A request
// forwarded to a leader that loses it gets no answer: time it out.
func (n *RawNode) ReadIndex(ctx []byte) {
	n.r.step(Message{Type: MsgReadIndex, From: n.r.id, Context: ctx})
}

// Durable reports that the log is on disk up to the entry (index, term)
// (or the snapshot ending there), with the term and vote persisted with
// it. Only with Config.AsyncStorageWrites.
func (n *RawNode) Durable(index, term uint64) { n.r.durable(index, term) }

// Compact records that the state machine's image up to index (already
// applied) is data, and discards the log up to there. The returned
// snapshot must be persisted by the driver.
func (n *RawNode) Compact(index uint64, data []byte) (Snapshot, error) {
	return n.r.log.compact(index, data)
}

// HasReady reports whether Ready would return anything.
func (n *RawNode) HasReady() bool {
	r := n.r
	return r.appendDue || (r.readRoundDue && r.reads.roundFree()) || r.softState() != n.prevSoft || r.hardState() != n.prevHard ||
		r.log.pending != nil || r.log.stabled < r.log.lastIndex() ||
		len(r.msgs) > 0 || len(r.readStates) > 0 || len(r.droppedReads) > 0 ||
		len(r.droppedProposals) > 0 || r.log.applied < r.log.committed
}

// Ready returns the effects accumulated since the last Advance.
func (n *RawNode) Ready() Ready {
	r := n.r
	r.flushDue()
	rd := Ready{
		Entries:          r.log.unstable(),
		Messages:         r.msgs,
		CommittedEntries: r.log.nextCommitted(r.maxApplyBytes),
		ReadStates:       r.readStates,
		DroppedReads:     r.droppedReads,
		DroppedProposals: r.droppedProposals,
	}
	if ss := r.softState(); ss != n.prevSoft {
		rd.SoftState = &ss
	}
	if hs := r.hardState(); hs != n.prevHard {
		rd.HardState = hs
	}
	if r.log.pending != nil {
		rd.Snapshot = *r.log.pending
	}
	r.msgs, r.readStates, r.droppedReads, r.droppedProposals = nil, nil, nil, nil
	n.inReady = true
	n.lastReady = rd
	return rd
}

// Advance acknowledges that the last Ready was carried out.
func (n *RawNode) Advance() {
	if !n.inReady {
		return
	}
	rd := n.lastReady
	r := n.r
	n.inReady = false
	n.lastReady = Ready{}
	if rd.SoftState != nil {
		n.prevSoft = *rd.SoftState
	}
	if !rd.HardState.IsEmpty() {
		n.prevHard = rd.HardState
	}
	if !rd.Snapshot.IsEmpty() {
		r.log.applied = max(r.log.applied, rd.Snapshot.Meta.Index)
		if r.log.pending != nil && r.log.pending.Meta.Index == rd.Snapshot.Meta.Index {
			r.log.pending = nil
		}
	}
	if len(rd.Entries) > 0 {
		last := rd.Entries[len(rd.Entries)-1]
		// The log may have been truncated meanwhile; only mark what is
		// still the same entry as durable.
		if r.log.matchTerm(last.Index, last.Term) {
			r.log.stabled = max(r.log.stabled, last.Index)
		}
	}
	if len(rd.CommittedEntries) > 0 {
		r.log.applied = max(r.log.applied, rd.CommittedEntries[len(rd.CommittedEntries)-1].Index)
	}
}

// Err reports a fatal protocol violation seen by the node (a leader
// rewriting a committed entry). The driver must stop the node.
func (n *RawNode) Err() error { return n.r.err }

// Status is a snapshot of the node's state for observation.
type Status struct {
	ID        NodeID
	Term      uint64
	Vote      NodeID
	Lead      NodeID
	State     StateType
	Commit    uint64
	Applied   uint64
	LastIndex uint64
	// FirstIndex is the oldest index still in the log.
	FirstIndex uint64
	// Conf is the configuration in force: the latest in the log. Its
	// slices are shared with the node (which replaces, never modifies,
	// them): do not modify.
	Conf ConfState
	// Transferee is the node a leadership transfer is handing over to
	// (None when no transfer is in progress).
	Transferee NodeID
}

// Status returns the node's current state.
func (n *RawNode) Status() Status {
	r := n.r
	return Status{ID: r.id, Term: r.term, Vote: r.vote, Lead: r.lead, State: r.state,
		Commit: r.log.committed, Applied: r.log.applied, LastIndex: r.log.lastIndex(),
		FirstIndex: r.log.firstIndex(), Conf: r.conf, Transferee: r.transferee}
}

// ProposeConfChange proposes a single-server membership change. On the
// leader it returns the index and term of the conf entry; it fails with
// ErrProposalDropped (not the leader, or a transfer in progress),
// ErrConfChangePending, ErrNoCommitInTerm, ErrUnknownMember,
// ErrMemberExists or ErrLastVoter. Unlike Propose, it is never forwarded:
// the driver sends changes to the leader.
func (n *RawNode) ProposeConfChange(cc ConfChange) (index, term uint64, err error) {
	return n.r.proposeConfChange(cc)
}

// TransferLeader hands leadership to the voter to (thesis §3.10): the
// leader stops accepting proposals, brings to up to date, and tells it to
// campaign at once. The transfer is abandoned after an election timeout.
// Errors: ErrNotLeader, ErrUnknownMember, ErrNotVoter.
func (n *RawNode) TransferLeader(to NodeID) error {
	return n.r.transferLeader(to)
}
