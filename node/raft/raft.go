package raft

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
)

// ErrProposalDropped is returned (wrapped, with the reason) when a proposal
// cannot be accepted now: no known leader, or a leadership transfer in
// progress. It surely was not appended anywhere.
var ErrProposalDropped = errors.New("raft: proposal dropped")

var (
	errNoLeader     = fmt.Errorf("%w: no leader", ErrProposalDropped)
	errNotLeader    = fmt.Errorf("%w: not the leader", ErrProposalDropped)
	errTransferring = fmt.Errorf("%w: leadership transfer in progress", ErrProposalDropped)
)

// Unsafe switches off one safety mechanism each, to prove that the test
// harness catches the resulting bugs. Never set them in production.
type Unsafe struct {
	// CommitPriorTerm commits an entry once a majority stores it, whatever
	// its term: the bug of Figure 8 of the Raft paper.
	CommitPriorTerm bool
	// VoteAnyLog grants votes without the election restriction (§5.4.1).
	VoteAnyLog bool
	// ConfigBeforeNoop lets a leader propose a configuration change before
	// an entry of its term is committed: the single-server change bug
	// (Ongaro, raft-dev 2015) that can elect two leaders in one term.
	ConfigBeforeNoop bool
}

// Config configures a node. Restored state (HardState, Snapshot, Entries)
// comes from stable storage on restart and is empty on first start.
type Config struct {
	ID NodeID
	// Peers is the bootstrap voter set, including ID. The configuration of
	// a restored snapshot or log takes precedence.
	Peers []NodeID
	// Join starts a node with no configuration (an empty data dir, joining
	// an existing cluster): it learns one from the leader's log or
	// snapshot and never campaigns until it is a voter. Peers is ignored.
	Join bool
	// ElectionTick is the election timeout in ticks; a follower waits a
	// random time in [ElectionTick, 2*ElectionTick) before campaigning.
	ElectionTick int
	// HeartbeatTick is the leader's heartbeat interval in ticks.
	HeartbeatTick int
	// Rand drives the randomized election timeout. nil: a source seeded
	// from ID, so runs stay deterministic.
	Rand *rand.Rand
	// MaxSizePerMsg bounds the entry bytes of one append (at least one
	// entry is always sent). 0: 1 MiB.
	MaxSizePerMsg int
	// MaxInflight bounds unacknowledged appends per follower. 0: 256.
	MaxInflight int
	// MaxApplyBytes bounds the committed entries of one Ready. 0: 4 MiB.
	MaxApplyBytes int
	// DisablePreVote and DisableCheckQuorum turn off those extensions
	// (thesis §9.6); both are on by default.
	DisablePreVote     bool
	DisableCheckQuorum bool
	// AsyncStorageWrites: the driver persists Ready entries in the
	// background and reports them with RawNode.Durable. A leader's own
	// copy of an entry then counts toward commit only once reported
	// durable; without it, the driver must persist each Ready before it
	// steps the next acknowledgement.
	AsyncStorageWrites bool

	HardState HardState
	Snapshot  Snapshot
	Entries   []Entry
	// Applied is the last index already applied to the state machine the
	// driver restored (at least Snapshot.Meta.Index).
	Applied uint64

	Unsafe Unsafe
}

func (c *Config) validate() error {
	if c.ID == None {
		return errors.New("raft: config: empty ID")
	}
	if c.HeartbeatTick <= 0 || c.ElectionTick <= c.HeartbeatTick {
		return fmt.Errorf("raft: config: need 0 < HeartbeatTick (%d) < ElectionTick (%d)", c.HeartbeatTick, c.ElectionTick)
	}
	// A node bootstraps as one of Peers; restored state may since have
	// made it a learner or removed it, which it simply obeys.
	if !c.Join && !slices.Contains(c.Peers, c.ID) {
		return fmt.Errorf("raft: config: ID %q not among peers %v", c.ID, c.Peers)
	}
	if !c.Snapshot.Meta.Conf.valid() {
		return fmt.Errorf("raft: config: snapshot configuration not sorted and disjoint: %v", c.Snapshot.Meta.Conf)
	}
	next := c.Snapshot.Meta.Index + 1
	for _, e := range c.Entries {
		if e.Index != next {
			return fmt.Errorf("raft: config: restored entries not contiguous: got index %d, want %d", e.Index, next)
		}
		if e.Type == EntryConfChange {
			if _, _, err := UnmarshalConfEntry(e.Data); err != nil {
				return fmt.Errorf("raft: config: restored conf entry %d: %w", e.Index, err)
			}
		}
		next++
	}
	if c.HardState.Commit > next-1 {
		return fmt.Errorf("raft: config: commit index %d beyond last index %d", c.HardState.Commit, next-1)
	}
	return nil
}

// raft is the protocol state of one node.
type raft struct {
	id NodeID
	// conf is the configuration in force (the log's latest) and members
	// its voters and learners, sorted: whom a leader replicates to.
	conf    ConfState
	members []NodeID
	term    uint64
	vote    NodeID
	lead    NodeID
	state   StateType
	log     raftLog

	prs   map[NodeID]*progress
	votes map[NodeID]bool

	electionTick, heartbeatTick int
	electionElapsed             int
	heartbeatElapsed            int
	randomizedTimeout           int
	rand                        *rand.Rand

	preVote, checkQuorum bool
	asyncWrites          bool
	maxSizePerMsg        int
	maxInflight          int
	maxApplyBytes        int
	unsafe               Unsafe

	// transferee is the voter a leadership transfer hands over to; while
	// set, the leader takes no proposals (thesis §3.10).
	transferee NodeID

	reads readIndexQueue
	// appendDue and readRoundDue ask for one append per follower and one
	// heartbeat round at the next Ready, covering every proposal and read
	// that arrived since: a batch of proposals costs one message per
	// follower, not one each. A read round waits while another is out
	// (see readIndexQueue.roundFree).
	appendDue, readRoundDue bool

	msgs             []Message
	readStates       []ReadState
	droppedReads     [][]byte
	droppedProposals [][]byte
	// err is set when the node saw something only a broken cluster sends;
	// the driver must stop it (see RawNode.Err).
	err error
}

func newRaft(c Config) (*raft, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	base := c.Snapshot.Meta.Conf.clone()
	if base.IsEmpty() && !c.Join {
		base.Voters = slices.Clone(c.Peers)
		slices.Sort(base.Voters)
		base.Voters = slices.Compact(base.Voters)
	}
	rnd := c.Rand
	if rnd == nil {
		h := fnv.New64a()
		h.Write([]byte(c.ID))
		rnd = rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
	}
	r := &raft{
		id:            c.ID,
		electionTick:  c.ElectionTick,
		heartbeatTick: c.HeartbeatTick,
		rand:          rnd,
		preVote:       !c.DisablePreVote,
		checkQuorum:   !c.DisableCheckQuorum,
		asyncWrites:   c.AsyncStorageWrites,
		maxSizePerMsg: orDefault(c.MaxSizePerMsg, 1<<20),
		maxInflight:   orDefault(c.MaxInflight, 256),
		maxApplyBytes: orDefault(c.MaxApplyBytes, 4<<20),
		unsafe:        c.Unsafe,
		prs:           make(map[NodeID]*progress),
	}
	r.log.snapshot = c.Snapshot
	r.log.entries = slices.Clone(c.Entries)
	r.log.baseConf = base
	r.log.trackConfs(r.log.entries)
	r.syncConf()
	r.log.stabled = r.log.lastIndex()
	r.log.durable = r.log.lastIndex()
	r.log.committed = max(c.HardState.Commit, c.Snapshot.Meta.Index)
	r.log.applied = min(max(c.Applied, c.Snapshot.Meta.Index), r.log.committed)
	r.becomeFollower(c.HardState.Term, None)
	r.vote = c.HardState.Vote
	return r, nil
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// voters is the configuration whose majorities decide elections, commits,
// reads and CheckQuorum.
func (r *raft) voters() majority { return majority(r.conf.Voters) }

// isVoter reports whether we vote (and may campaign) in our configuration.
func (r *raft) isVoter() bool { return r.conf.IsVoter(r.id) }

// flushDue sends what appendDue and readRoundDue asked for.
func (r *raft) flushDue() {
	if r.state != StateLeader {
		r.appendDue, r.readRoundDue = false, false
		return
	}
	if r.appendDue {
		r.appendDue = false
		r.bcastAppend()
	}
	if r.readRoundDue && r.reads.roundFree() {
		r.sendReadRound()
	}
}

// sendReadRound sends a heartbeat round for the last queued read: its
// confirmation confirms every read queued before it too.
func (r *raft) sendReadRound() {
	r.readRoundDue = false
	if n := len(r.reads.queue); n > 0 {
		r.reads.sentRound = r.reads.queue[n-1].id
	}
	r.bcastHeartbeat(r.reads.lastCtx())
}

func (r *raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

func (r *raft) softState() SoftState { return SoftState{Lead: r.lead, State: r.state} }

// send queues m, stamping sender and, for everything but local requests
// and votes (which carry their own), the current term.
func (r *raft) send(m Message) {
	m.From = r.id
	switch m.Type {
	case MsgVote, MsgVoteResp, MsgPreVote, MsgPreVoteResp:
		// Term set by the caller: pre-votes use a future term.
	case MsgProp, MsgReadIndex:
		// Forwarded requests are local to the cluster's leader, not part
		// of the term protocol.
	default:
		m.Term = r.term
	}
	r.msgs = append(r.msgs, m)
}

func (r *raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = None
	}
	r.lead = None
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.randomizedTimeout = r.electionTick + r.rand.IntN(r.electionTick)
	r.votes = make(map[NodeID]bool)
	r.appendDue, r.readRoundDue = false, false
	r.transferee = None
	r.prs = make(map[NodeID]*progress, len(r.members)+1)
	for _, id := range r.members {
		r.prs[id] = r.newProgress()
	}
	// Our own progress exists even when we are not a member (a leader
	// that removed itself): it tracks what our disk holds.
	if r.prs[r.id] == nil {
		r.prs[r.id] = r.newProgress()
	}
	r.prs[r.id].match = r.selfMatch()
	r.droppedReads = append(r.droppedReads, r.reads.drain()...)
}

func (r *raft) newProgress() *progress {
	return &progress{next: r.log.lastIndex() + 1, maxInflight: r.maxInflight}
}

func (r *raft) becomeFollower(term uint64, lead NodeID) {
	r.reset(term)
	r.lead = lead
	r.state = StateFollower
}

func (r *raft) becomePreCandidate() {
	// A pre-candidate keeps its term and vote: a lost pre-election must
	// leave no trace (thesis §9.6).
	r.votes = make(map[NodeID]bool)
	r.lead = None
	r.state = StatePreCandidate
	r.appendDue, r.readRoundDue = false, false
	r.droppedReads = append(r.droppedReads, r.reads.drain()...)
}

func (r *raft) becomeCandidate() {
	r.reset(r.term + 1)
	r.vote = r.id
	r.state = StateCandidate
}

func (r *raft) becomeLeader() {
	r.reset(r.term)
	r.lead = r.id
	r.state = StateLeader
	for _, pr := range r.prs {
		pr.recentActive = true
	}
	r.prs[r.id].becomeReplicate()
	// The no-op lets the leader commit entries of earlier terms, which it
	// may only do indirectly, through an entry of its own term (§5.4.2).
	r.appendEntry(Entry{Type: EntryNoop})
}

// appendEntry appends to the leader's own log.
func (r *raft) appendEntry(es ...Entry) (uint64, uint64) {
	last := r.log.lastIndex()
	for i := range es {
		es[i].Term = r.term
		es[i].Index = last + 1 + uint64(i)
	}
	r.log.append(es...)
	r.syncConf()
	if !r.asyncWrites {
		// The driver persists this before it steps any acknowledgement.
		r.prs[r.id].maybeUpdate(r.log.lastIndex())
		// A single-node cluster commits at once.
		r.maybeCommit()
	}
	return es[len(es)-1].Index, r.term
}

// selfMatch is how much of our own log counts toward a commit.
func (r *raft) selfMatch() uint64 {
	if r.asyncWrites {
		return min(r.log.durable, r.log.lastIndex())
	}
	return r.log.lastIndex()
}

// durable records that our log is on disk up to (index, term).
func (r *raft) durable(index, term uint64) {
	// Log Matching: if we still hold that entry, everything before it is
	// what was written too; if not, the write was overtaken by a
	// truncation and proves nothing.
	if !r.log.matchTerm(index, term) || index <= r.log.durable {
		return
	}
	r.log.durable = index
	if r.state == StateLeader && r.prs[r.id].maybeUpdate(index) && r.maybeCommit() {
		r.appendDue = true
	}
}

// tick advances logical time by one tick.
func (r *raft) tick() {
	if r.state == StateLeader {
		r.tickLeader()
		return
	}
	r.electionElapsed++
	if r.electionElapsed >= r.randomizedTimeout {
		r.electionElapsed = 0
		// A learner, a removed node or one still joining never campaigns
		// (thesis §4.2.1, §4.2.2).
		if r.isVoter() {
			r.hup()
		}
	}
}

func (r *raft) tickLeader() {
	r.heartbeatElapsed++
	r.electionElapsed++
	for id, pr := range r.prs {
		if id != r.id && pr.state == snapshotState {
			pr.snapshotAge++
			if pr.snapshotAge > 2*r.electionTick {
				// The snapshot or its answer was lost: start over.
				pr.becomeProbe()
			}
		}
	}
	if r.electionElapsed >= r.electionTick {
		r.electionElapsed = 0
		// A transfer that did not finish within an election timeout has
		// failed (the target is down or slow): take proposals again.
		r.transferee = None
		if r.checkQuorum && !r.quorumActive() {
			// CheckQuorum: a leader that has not heard from a majority
			// within an election timeout steps down, so a partitioned
			// leader stops serving (thesis §6.2).
			r.becomeFollower(r.term, None)
			return
		}
	}
	if r.heartbeatElapsed >= r.heartbeatTick {
		r.heartbeatElapsed = 0
		r.sendReadRound()
	}
}

func (r *raft) quorumActive() bool {
	active := r.voters().hasQuorum(func(id NodeID) bool { return id == r.id || r.prs[id].recentActive })
	for _, pr := range r.prs {
		pr.recentActive = false
	}
	return active
}

// hup starts an election (or a pre-election).
func (r *raft) hup() {
	if r.state == StateLeader || !r.isVoter() {
		return
	}
	r.campaign(r.preVote, false)
}

// transferContext marks the MsgVote of a campaign started by
// MsgTimeoutNow.
var transferContext = []byte("transfer")

// campaign starts a pre-election or an election; a transfer's campaign
// skips the pre-election and asks voters to ignore their leader lease.
func (r *raft) campaign(pre, transfer bool) {
	var term uint64
	var typ MessageType
	if pre {
		r.becomePreCandidate()
		term, typ = r.term+1, MsgPreVote
	} else {
		r.becomeCandidate()
		term, typ = r.term, MsgVote
	}
	if r.poll(r.id, true) {
		return
	}
	var ctx []byte
	if transfer {
		ctx = transferContext
	}
	for _, id := range r.conf.Voters {
		if id != r.id {
			r.send(Message{Type: typ, To: id, Term: term, Index: r.log.lastIndex(), LogTerm: r.log.lastTerm(), Context: ctx})
		}
	}
}

// poll records a vote and reports whether the election was decided.
func (r *raft) poll(from NodeID, granted bool) bool {
	if _, ok := r.votes[from]; !ok {
		r.votes[from] = granted
	}
	switch r.voters().voteResult(r.votes) {
	case voteWon:
		if r.state == StatePreCandidate {
			r.campaign(false, false)
		} else {
			r.becomeLeader()
			r.bcastAppend()
		}
		return true
	case voteLost:
		r.becomeFollower(r.term, None)
		return true
	}
	return false
}
