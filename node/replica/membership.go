package replica

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/raftcheck/raftcheck/node/kv"
	"github.com/raftcheck/raftcheck/node/raft"
)

// Errors of membership changes and leadership transfers. The server maps
// them to HTTP status codes (in parentheses).
var (
	// ErrChangeInProgress: another change is not committed yet, or the
	// leader has not committed an entry of its term (409).
	ErrChangeInProgress = errors.New("a membership change is in progress")
	// ErrUnknownMember: the node is not a member (404).
	ErrUnknownMember = errors.New("not a member")
	// ErrMemberExists: the node is already a member (as asked) (409).
	ErrMemberExists = errors.New("already a member")
	// ErrLastVoter: removing the only voter would leave nobody to decide (400).
	ErrLastVoter = errors.New("cannot remove the last voter")
	// ErrIDReused: the ID belonged to a member that was removed. IDs are
	// never reused: a late message of the old incarnation could count for
	// the new one (409).
	ErrIDReused = errors.New("member ID was removed before and cannot be reused")
	// ErrNotVoter: leadership can go only to a voter (400).
	ErrNotVoter = errors.New("not a voter")
	// ErrBadChange: the request itself is malformed (400).
	ErrBadChange = errors.New("invalid membership request")
	// ErrNotLeader: only the leader changes membership; the answer names
	// the leader if known (503, retry there).
	ErrNotLeader = errors.New("not the leader")
	// ErrOutcomeUnknown: the change was proposed but its fate is unknown
	// (timed out, or decided inside a snapshot); it may still take effect (504).
	ErrOutcomeUnknown = errors.New("outcome unknown: the change may still take effect")
	// ErrAborted: the change or transfer surely did not happen (a new
	// leader replaced the entry, or the transfer was abandoned) (503).
	ErrAborted = errors.New("aborted: did not take effect")
)

// Member is one member and its peer address ("" if this node never
// learned it).
type Member struct {
	ID   raft.NodeID
	Addr string
}

// Members is the configuration as this node knows it: the latest in its
// log (committed or not) for the roles, and the IDs removed by committed
// changes.
type Members struct {
	Voters, Learners []Member
	Removed          []raft.NodeID
}

// MembershipResponse answers ChangeMembership.
type MembershipResponse struct {
	// Err is nil once the change is committed and applied.
	Err error
	// Index is the conf entry's log index (when it was appended).
	Index uint64
	// Leader is the node this replica believes leads, if any.
	Leader raft.NodeID
}

// PeerBook is implemented by a Sender that can learn peers at run time
// (the server's transport). Membership changes carry the new member's
// address; the replica hands it over as soon as the change is in the log,
// since the leader replicates to a learner before the change commits.
type PeerBook interface {
	SetPeer(id raft.NodeID, addr string) error
	RemovePeer(id raft.NodeID)
}

// pendingConf is this replica's one outstanding conf change, proposed as
// leader at (index, term); index 0 while it waits for the leader's no-op
// to commit.
type pendingConf struct {
	cc          raft.ConfChange
	index, term uint64
	deadline    int
	done        func(MembershipResponse)
}

// pendingTransfer is an outstanding leadership transfer.
type pendingTransfer struct {
	to       raft.NodeID
	deadline int
	done     func(error)
}

// ChangeMembership proposes a single-server change. An added node's
// peer address goes in cc.Context. done is called exactly once, like
// Submit's: with a nil Err when the entry is committed and applied, or
// with one of the errors above.
func (r *Replica) ChangeMembership(cc raft.ConfChange, done func(MembershipResponse)) {
	fail := func(err error) { done(MembershipResponse{Err: err, Leader: r.soft.Lead}) }
	if err := r.checkChange(cc); err != nil {
		fail(err)
		return
	}
	if r.conf != nil {
		fail(fmt.Errorf("%w: %s %s not committed yet", ErrChangeInProgress, r.conf.cc.Type, r.conf.cc.Node))
		return
	}
	r.conf = &pendingConf{cc: cc, deadline: r.now + r.timeout, done: done}
	r.proposeConf()
}

// proposeConf proposes the pending change. A leader new in its term
// cannot until its no-op commits (the 2015 rule), which takes one round
// trip: the change waits for it (retried after each Process) rather
// than failing a request that would succeed a moment later.
func (r *Replica) proposeConf() {
	p := r.conf
	index, term, err := r.rn.ProposeConfChange(p.cc)
	switch {
	case errors.Is(err, raft.ErrNoCommitInTerm) && r.soft.State == raft.StateLeader:
		return
	case err != nil:
		r.conf = nil
		r.answerConf(p, confError(err))
		return
	}
	p.index, p.term = index, term
	r.stats.ConfChanges++
	r.log.Info("membership change proposed", "type", p.cc.Type.String(), "node", p.cc.Node,
		"addr", string(p.cc.Context), "index", index)
}

// MaxMemberIDLen bounds a member ID: the transport's handshake carries
// IDs in one length byte.
const MaxMemberIDLen = 255

// checkChange refuses what no leader may propose, before asking the core.
func (r *Replica) checkChange(cc raft.ConfChange) error {
	if cc.Node == raft.None || len(cc.Node) > MaxMemberIDLen {
		return fmt.Errorf("%w: member ID must be 1 to %d bytes", ErrBadChange, MaxMemberIDLen)
	}
	if len(cc.Context) > kv.MaxAddrLen {
		return fmt.Errorf("%w: peer address longer than %d bytes", ErrBadChange, kv.MaxAddrLen)
	}
	switch cc.Type {
	case raft.ConfAddLearner:
		if len(cc.Context) == 0 {
			return fmt.Errorf("%w: adding %s needs its peer address", ErrBadChange, cc.Node)
		}
		if r.removedIDs[cc.Node] {
			return fmt.Errorf("%w: %s", ErrIDReused, cc.Node)
		}
	case raft.ConfPromote, raft.ConfRemove:
	default:
		return fmt.Errorf("%w: unknown change type %d", ErrBadChange, cc.Type)
	}
	if r.soft.State != raft.StateLeader {
		return ErrNotLeader
	}
	return nil
}

// confError maps the core's refusals to the replica's errors.
func confError(err error) error {
	var kind error
	switch {
	case errors.Is(err, raft.ErrConfChangePending), errors.Is(err, raft.ErrNoCommitInTerm):
		kind = ErrChangeInProgress
	case errors.Is(err, raft.ErrUnknownMember):
		kind = ErrUnknownMember
	case errors.Is(err, raft.ErrMemberExists):
		kind = ErrMemberExists
	case errors.Is(err, raft.ErrLastVoter):
		kind = ErrLastVoter
	case errors.Is(err, raft.ErrNotVoter):
		kind = ErrNotVoter
	case errors.Is(err, raft.ErrProposalDropped), errors.Is(err, raft.ErrNotLeader):
		kind = ErrNotLeader
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", kind, err)
}

// TransferLeadership asks the leader to hand over to the voter to. done
// is called once, with nil when to leads (as this node sees it), or with
// ErrAborted if the transfer failed or timed out.
func (r *Replica) TransferLeadership(to raft.NodeID, done func(error)) {
	if to == raft.None {
		done(fmt.Errorf("%w: no target node", ErrBadChange))
		return
	}
	if r.soft.State != raft.StateLeader {
		done(ErrNotLeader)
		return
	}
	if to == r.id {
		done(nil)
		return
	}
	if r.transfer != nil {
		done(fmt.Errorf("%w: a transfer to %s is under way", ErrChangeInProgress, r.transfer.to))
		return
	}
	if err := r.rn.TransferLeader(to); err != nil {
		done(confError(err))
		return
	}
	// One election timeout is the core's own limit; the deadline only
	// catches a transfer the core never reports as under way.
	r.transfer = &pendingTransfer{to: to, deadline: r.now + r.timeout, done: done}
	r.log.Info("leadership transfer started", "to", to)
}

// Members reports the configuration with the members' addresses.
func (r *Replica) Members() Members {
	conf := r.rn.Status().Conf
	m := Members{Removed: make([]raft.NodeID, 0, len(r.removedIDs))}
	for _, id := range conf.Voters {
		m.Voters = append(m.Voters, Member{ID: id, Addr: r.addrs[id]})
	}
	for _, id := range conf.Learners {
		m.Learners = append(m.Learners, Member{ID: id, Addr: r.addrs[id]})
	}
	for _, id := range r.store.RemovedIDs() {
		m.Removed = append(m.Removed, raft.NodeID(id))
	}
	return m
}

// learnEntries notes the conf entries of a batch appended to the log: a
// configuration takes effect when appended, so the transport must reach
// a new member now. Cheap for the write path: one type check per entry.
func (r *Replica) learnEntries(ents []raft.Entry) {
	for _, e := range ents {
		if e.Type != raft.EntryConfChange {
			continue
		}
		cc, err := raft.UnmarshalConfChange(e.Data)
		if err != nil {
			continue // the core refused it too; apply logs it
		}
		r.learnChange(cc)
	}
}

func (r *Replica) learnChange(cc raft.ConfChange) {
	switch cc.Type {
	case raft.ConfAddLearner, raft.ConfPromote:
		if len(cc.Context) > 0 {
			r.setAddr(cc.Node, string(cc.Context))
		}
	case raft.ConfRemove:
		// Conservative: a removal later truncated from the log still
		// retires the ID here; the operator picks another.
		r.removedIDs[cc.Node] = true
	}
}

func (r *Replica) setAddr(id raft.NodeID, addr string) {
	if r.addrs[id] == addr {
		return
	}
	r.addrs[id] = addr
	if book, ok := r.sender.(PeerBook); ok && id != r.id {
		if err := book.SetPeer(id, addr); err != nil {
			r.log.Warn("cannot reach new member", "node", id, "addr", addr, "err", err)
		}
	}
}

// learnStore takes the address book and removed IDs of the state machine
// (after a restart or a restored snapshot).
func (r *Replica) learnStore() {
	addrs := r.store.MemberAddrs()
	for _, id := range slices.Sorted(maps.Keys(addrs)) {
		r.setAddr(raft.NodeID(id), addrs[id])
	}
	for _, id := range r.store.RemovedIDs() {
		r.removedIDs[raft.NodeID(id)] = true
	}
}

// applyConf applies a committed conf entry to the state machine and
// answers its proposer.
func (r *Replica) applyConf(e raft.Entry) {
	cc, err := raft.UnmarshalConfChange(e.Data)
	if err != nil {
		r.log.Error("skipping undecodable committed conf entry", "index", e.Index, "err", err)
		return
	}
	op := map[raft.ConfChangeType]kv.MemberOp{raft.ConfAddLearner: kv.MemberAdd,
		raft.ConfPromote: kv.MemberPromote, raft.ConfRemove: kv.MemberRemove}[cc.Type]
	if err := r.store.ApplyMember(e.Index, op, string(cc.Node), string(cc.Context)); err != nil {
		r.log.Error("membership change not recorded", "index", e.Index, "err", err)
	}
	r.learnChange(cc)
	r.log.Info("membership change committed", "type", cc.Type.String(), "node", cc.Node, "index", e.Index)
	if cc.Type == raft.ConfRemove {
		delete(r.addrs, cc.Node)
		if book, ok := r.sender.(PeerBook); ok && cc.Node != r.id {
			book.RemovePeer(cc.Node)
		}
	}
}

func (r *Replica) answerConf(p *pendingConf, err error) {
	p.done(MembershipResponse{Err: err, Index: p.index, Leader: r.soft.Lead})
}

// settleConf answers the pending change once the entry at its index is
// applied: ours if the term matches (Log Matching), else a new leader
// replaced it and it can never commit.
func (r *Replica) settleConf(e raft.Entry) {
	p := r.conf
	if p == nil || p.index == 0 || e.Index != p.index {
		return
	}
	r.conf = nil
	if e.Type == raft.EntryConfChange && e.Term == p.term {
		r.answerConf(p, nil)
	} else {
		r.answerConf(p, fmt.Errorf("%w: lost leadership before the change committed", ErrAborted))
	}
}

// expireMembership answers what waited too long; from Tick.
func (r *Replica) expireMembership() {
	if p := r.conf; p != nil && r.now >= p.deadline {
		r.conf = nil
		if p.index == 0 {
			r.answerConf(p, fmt.Errorf("%w: the leader committed nothing in its term in time", ErrAborted))
		} else {
			r.answerConf(p, fmt.Errorf("%w: timed out", ErrOutcomeUnknown))
		}
	}
	if t := r.transfer; t != nil && r.now >= t.deadline {
		r.transfer = nil
		t.done(fmt.Errorf("%w: %s did not take over in time", ErrAborted, t.to))
	}
}

// checkTransfer settles a pending transfer after each Process: done when
// the target leads, aborted when the core gave up (we still lead but no
// longer transfer) or someone else took over.
func (r *Replica) checkTransfer() {
	t := r.transfer
	if t == nil {
		return
	}
	var err error
	switch lead := r.soft.Lead; {
	case lead == t.to:
	case r.soft.State == raft.StateLeader:
		if r.rn.Status().Transferee == t.to {
			return
		}
		err = fmt.Errorf("%w: the transfer to %s was abandoned", ErrAborted, t.to)
	case lead != raft.None:
		err = fmt.Errorf("%w: %s took over instead of %s", ErrAborted, lead, t.to)
	default:
		return // an election is under way
	}
	r.transfer = nil
	t.done(err)
}
