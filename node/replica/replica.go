package replica

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"

	"github.com/raftcheck/raftcheck/node/kv"
	"github.com/raftcheck/raftcheck/node/raft"
)

// Config configures a replica.
type Config struct {
	// Raft configures the core, including the state restored from disk.
	Raft    raft.Config
	Storage Storage
	// Writer, if set, persists in the background (see Writer); Storage
	// is then used only by the unsafe mode AckBeforePersist, which keeps
	// the synchronous path and its deferred writes.
	Writer Writer
	Sender Sender
	// SnapshotEvery takes a snapshot after this many applied entries.
	// 0: 10000.
	SnapshotEvery uint64
	// RequestTimeout is how many ticks a request may wait before it is
	// answered Info (writes) or Fail (reads). 0: 5 election timeouts.
	RequestTimeout int
	// RequestIDBase must differ on every start of this node, so an entry
	// proposed before a crash is never taken for a request made after it.
	// The server uses the wall clock; the simulator its seeded source.
	RequestIDBase uint64
	Unsafe        Unsafe
	Logger        *slog.Logger
	// Addrs are the peer addresses the node was started with, reported
	// by Members for members whose address no membership change carried
	// (the bootstrap members).
	Addrs map[raft.NodeID]string
}

// Replica is one raftnode's replicated state. Not safe for concurrent use:
// one goroutine calls everything, then Process.
type Replica struct {
	id      raft.NodeID
	rn      *raft.RawNode
	store   *kv.Store
	storage Storage
	sender  Sender
	log     *slog.Logger
	unsafe  Unsafe

	snapshotEvery uint64
	snapIndex     uint64
	applied       uint64
	timeout       int
	now           int // ticks since start
	nextID        uint64

	pending pendingTable
	soft    raft.SoftState
	// synced is the hard state last made durable.
	synced raft.HardState
	stats  Stats
	// deferred holds an unwritten batch in AckBeforePersist mode.
	deferred    []raft.Ready
	deferredAge int
	deferTicks  int
	async       asyncState

	// Membership: the one change and transfer in flight, the members'
	// peer addresses, and the IDs that may never be added again.
	conf       *pendingConf
	transfer   *pendingTransfer
	addrs      map[raft.NodeID]string
	removedIDs map[raft.NodeID]bool
}

// New creates a replica, restoring the state machine from the snapshot in
// cfg.Raft. Committed entries after the snapshot are re-applied through
// the first Process calls.
func New(cfg Config) (*Replica, error) {
	if cfg.Storage == nil || cfg.Sender == nil {
		return nil, errors.New("replica: Storage and Sender are required")
	}
	store := kv.New(kv.Options{NoDedup: cfg.Unsafe.NoDedup})
	if s := cfg.Raft.Snapshot; !s.IsEmpty() {
		if err := store.Restore(s.Data); err != nil {
			return nil, fmt.Errorf("replica: restore snapshot at index %d: %w", s.Meta.Index, err)
		}
	}
	cfg.Raft.Applied = cfg.Raft.Snapshot.Meta.Index
	async := cfg.Writer != nil && !cfg.Unsafe.AckBeforePersist
	cfg.Raft.AsyncStorageWrites = async
	rn, err := raft.NewRawNode(cfg.Raft)
	if err != nil {
		return nil, err
	}
	r := &Replica{
		synced:        cfg.Raft.HardState,
		id:            cfg.Raft.ID,
		rn:            rn,
		store:         store,
		storage:       cfg.Storage,
		sender:        cfg.Sender,
		log:           cfg.Logger,
		unsafe:        cfg.Unsafe,
		snapshotEvery: cfg.SnapshotEvery,
		snapIndex:     cfg.Raft.Snapshot.Meta.Index,
		applied:       cfg.Raft.Snapshot.Meta.Index,
		timeout:       cfg.RequestTimeout,
		nextID:        cfg.RequestIDBase,
		pending:       newPendingTable(),
		addrs:         maps.Clone(cfg.Addrs),
		removedIDs:    map[raft.NodeID]bool{},
	}
	if r.addrs == nil {
		r.addrs = map[raft.NodeID]string{}
	}
	if async {
		hs := cfg.Raft.HardState
		if cfg.Unsafe.ForgetVote {
			hs.Vote = raft.None
		}
		r.async = asyncState{writer: cfg.Writer, issuedHS: hs}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// Members learned since the bootstrap: from the snapshot, then from
	// the conf entries after it, committed or not.
	r.learnStore()
	r.learnEntries(cfg.Raft.Entries)
	if r.snapshotEvery == 0 {
		r.snapshotEvery = 10000
	}
	// An election timeout: long enough for a write to be acknowledged
	// and a crash to catch it unwritten.
	r.deferTicks = cfg.Raft.ElectionTick
	if r.timeout <= 0 {
		r.timeout = 5 * cfg.Raft.ElectionTick
	}
	return r, nil
}

// Tick advances time by one tick.
func (r *Replica) Tick() {
	r.now++
	r.deferredAge++
	r.rn.Tick()
	if r.conf != nil || r.transfer != nil {
		r.expireMembership()
	}
	for _, p := range r.pending.expire(r.now) {
		if p.req.Op == OpRead {
			r.answer(p, Response{Outcome: Fail, Reason: "timed out before the read was confirmed"})
		} else {
			r.answer(p, Response{Outcome: Info, Reason: "timed out: the operation may still take effect"})
		}
	}
}

// Step feeds a message from a peer. Malformed input is dropped.
func (r *Replica) Step(m raft.Message) {
	if m.To != r.id {
		return
	}
	if err := r.rn.Step(m); err != nil {
		r.log.Warn("dropped message", "from", m.From, "type", m.Type, "err", err)
	}
}

// Campaign starts an election now.
func (r *Replica) Campaign() { r.rn.Campaign() }

// Submit starts a client operation; done is called exactly once, from a
// later Tick, Step or Process call (or from Submit itself), never
// concurrently.
func (r *Replica) Submit(req Request, done func(Response)) {
	p := &pendingReq{req: req, done: done, deadline: r.now + r.timeout}
	if err := validate(req); err != nil {
		r.answer(p, Response{Outcome: Fail, Reason: err.Error()})
		return
	}
	switch req.Op {
	case OpRead:
		r.stats.Reads++
		if r.unsafe.StaleReads {
			v, ok := r.store.Get(req.Key)
			r.answer(p, Response{Outcome: OK, Value: v, Present: ok})
			return
		}
		p.ctx = r.newID()
		r.pending.addRead(p)
		r.rn.ReadIndex(readCtx(p.ctx))
	default:
		r.stats.Proposals++
		p.id = kv.RequestID{Node: string(r.id), N: r.newID()}
		cmd := kv.Command{ID: p.id, ClientID: req.ClientID, Seq: req.Seq, Key: req.Key,
			Value: req.Value, From: req.From, To: req.To, Op: kv.OpWrite}
		if req.Op == OpCAS {
			cmd.Op = kv.OpCAS
		}
		index, _, err := r.rn.Propose(cmd.Marshal())
		if err != nil {
			r.answer(p, Response{Outcome: Fail, Reason: "no leader to propose to"})
			return
		}
		p.index = index
		r.pending.addWrite(p)
	}
}

func (r *Replica) newID() uint64 {
	r.nextID++
	return r.nextID
}

func readCtx(n uint64) []byte { return strconv.AppendUint(nil, n, 36) }

func validate(req Request) error {
	switch req.Op {
	case OpRead, OpWrite, OpCAS:
	default:
		return fmt.Errorf("unknown operation %d", req.Op)
	}
	if req.Key == "" || len(req.Key) > kv.MaxKeyLen {
		return fmt.Errorf("key must be 1 to %d bytes", kv.MaxKeyLen)
	}
	if len(req.ClientID) > kv.MaxClientIDLen {
		return fmt.Errorf("client id longer than %d bytes", kv.MaxClientIDLen)
	}
	if (req.ClientID == "") != (req.Seq == 0) {
		return errors.New("client id and a sequence number > 0 go together")
	}
	return nil
}

func (r *Replica) answer(p *pendingReq, resp Response) {
	resp.Leader = r.soft.Lead
	p.done(resp)
}

// RaftView is the core's read-only view, for invariant checkers (the
// simulator's): callers must not step it.
func (r *Replica) RaftView() *raft.RawNode { return r.rn }

// Status reports the replica's state.
func (r *Replica) Status() Status {
	st := r.rn.Status()
	return Status{ID: r.id, Role: st.State.String(), Term: st.Term, Leader: st.Lead,
		Commit: st.Commit, Applied: r.applied, LastIndex: st.LastIndex,
		SnapshotIndex: r.snapIndex, Pending: r.pending.len(),
		Voters: st.Conf.Voters, Learners: st.Conf.Learners}
}

// Stats returns counters of what the replica did.
func (r *Replica) Stats() Stats {
	return r.stats
}

// Get reads the local state machine directly (for tests and debugging:
// not linearizable).
func (r *Replica) Get(key string) (int64, bool) { return r.store.Get(key) }
