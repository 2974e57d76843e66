package replica

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/raftcheck/raftcheck/node/kv"
	"github.com/raftcheck/raftcheck/node/raft"
)

// Process carries out everything the Raft core has ready: persist (or,
// with a Writer, hand to it), send, apply, answer clients, compact. Call
// it after every Tick, Step, Submit or Durable. An error means the node must stop (its disk failed, or it saw a
// protocol violation); continuing could lose acknowledged data.
func (r *Replica) Process() error {
	if len(r.deferred) > 0 && r.deferredAge >= r.deferTicks {
		if err := r.flushDeferred(); err != nil {
			return err
		}
	}
	for r.rn.HasReady() {
		rd := r.rn.Ready()
		if err := r.handle(rd); err != nil {
			return err
		}
		r.rn.Advance()
		if err := r.rn.Err(); err != nil {
			return fmt.Errorf("replica %s: %w", r.id, err)
		}
		if err := r.maybeSnapshot(); err != nil {
			return err
		}
	}
	if r.transfer != nil {
		r.checkTransfer()
	}
	if r.conf != nil && r.conf.index == 0 {
		r.proposeConf()
		if r.rn.HasReady() {
			return r.Process()
		}
	}
	return nil
}

func (r *Replica) handle(rd raft.Ready) error {
	if rd.SoftState != nil {
		if rd.SoftState.Lead != r.soft.Lead {
			r.stats.LeaderChanges++
			r.log.Info("leader changed", "leader", rd.SoftState.Lead, "role", rd.SoftState.State.String())
		}
		r.soft = *rd.SoftState
	}
	// Before anything is sent: the messages may be for a member these
	// entries add.
	r.learnEntries(rd.Entries)
	if r.async.writer != nil {
		r.persistAsync(rd)
	} else if err := r.persistAndSend(rd); err != nil {
		return err
	}
	if !rd.Snapshot.IsEmpty() {
		if err := r.restore(rd.Snapshot); err != nil {
			return err
		}
	}
	for _, e := range rd.CommittedEntries {
		r.apply(e)
	}
	for _, rs := range rd.ReadStates {
		if p := r.pending.reads[parseCtx(rs.RequestCtx)]; p != nil {
			p.readIndex, p.readReady = rs.Index, true
		}
	}
	for _, ctx := range rd.DroppedReads {
		if p := r.pending.takeRead(parseCtx(ctx)); p != nil {
			r.answer(p, Response{Outcome: Fail, Reason: "leadership unconfirmed; retry"})
		}
	}
	for _, data := range rd.DroppedProposals {
		cmd, err := kv.UnmarshalCommand(data)
		if err != nil || cmd.ID.Node != string(r.id) {
			continue
		}
		if p := r.pending.takeWrite(cmd.ID.N); p != nil {
			r.answer(p, Response{Outcome: Fail, Reason: "no leader to propose to"})
		}
	}
	for _, p := range r.pending.readyReads(r.applied) {
		v, ok := r.store.Get(p.req.Key)
		r.answer(p, Response{Outcome: OK, Value: v, Present: ok})
	}
	return nil
}

// persistAndSend persists rd on the caller's goroutine, then sends its
// messages (a leader's before the write).
func (r *Replica) persistAndSend(rd raft.Ready) error {
	if !rd.Snapshot.IsEmpty() {
		// The snapshot is durable before anything acknowledges it, even in
		// the unsafe mode: that mode is about entries.
		if err := r.storage.SaveSnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("replica %s: save snapshot %d: %w", r.id, rd.Snapshot.Meta.Index, err)
		}
	}
	// A leader's appends may leave before its own write (thesis §10.2.1):
	// its fsync then overlaps the round trip and the followers' fsyncs.
	// That is safe because this loop finishes the write before it steps
	// any acknowledgement, so the leader never counts its own copy of an
	// entry toward commit before that copy is durable.
	early := r.leaderMessagesOnly(rd)
	if early && len(rd.Messages) > 0 {
		r.sender.Send(rd.Messages)
	}
	if r.unsafe.AckBeforePersist {
		// Write batches only every deferTicks: acknowledgements race ahead
		// of the disk, and a crash loses what they acknowledged.
		if len(r.deferred) == 0 {
			r.deferredAge = 0
		}
		r.deferred = append(r.deferred, raft.Ready{HardState: rd.HardState, Entries: rd.Entries})
	} else if err := r.persist(rd.HardState, rd.Entries); err != nil {
		return err
	}
	if !early && len(rd.Messages) > 0 {
		r.sender.Send(rd.Messages)
	}
	return nil
}

// leaderMessagesOnly reports whether rd is a leader's batch whose
// messages depend on nothing it persists: appends, heartbeats, snapshots
// and read answers, with no change of term or vote to make durable first.
// Anything a follower or candidate says (acks, votes) waits for the disk.
func (r *Replica) leaderMessagesOnly(rd raft.Ready) bool {
	if !rd.HardState.IsEmpty() && (rd.HardState.Term != r.synced.Term || rd.HardState.Vote != r.synced.Vote) {
		return false
	}
	return r.leaderMessages(rd.Messages)
}

// leaderMessages reports whether we lead and msgs are only appends,
// heartbeats, snapshots and read answers.
func (r *Replica) leaderMessages(msgs []raft.Message) bool {
	if r.soft.State != raft.StateLeader {
		return false
	}
	for _, m := range msgs {
		switch m.Type {
		case raft.MsgApp, raft.MsgHeartbeat, raft.MsgSnap, raft.MsgReadIndexResp:
		default:
			return false
		}
	}
	return true
}

func (r *Replica) persist(hs raft.HardState, ents []raft.Entry) error {
	if hs.IsEmpty() && len(ents) == 0 {
		return nil
	}
	if r.unsafe.ForgetVote {
		hs.Vote = raft.None
	}
	if err := r.storage.Append(hs, ents); err != nil {
		return fmt.Errorf("replica %s: append: %w", r.id, err)
	}
	// A batch that only moves the commit index needs no fsync: the commit
	// index is a hint a restart may lose (the leader tells it again), and
	// an fsync per commit would double the fsyncs of every write.
	voteChanged := !hs.IsEmpty() && (hs.Term != r.synced.Term || hs.Vote != r.synced.Vote)
	if len(ents) == 0 && !voteChanged {
		return nil
	}
	if r.unsafe.NoFsync {
		// Carry on as if the disk had said yes.
		if !hs.IsEmpty() {
			r.synced = hs
		}
		return nil
	}
	if err := r.storage.Sync(); err != nil {
		return fmt.Errorf("replica %s: sync: %w", r.id, err)
	}
	if !hs.IsEmpty() {
		r.synced = hs
	}
	return nil
}

func (r *Replica) flushDeferred() error {
	batches := r.deferred
	r.deferred = nil
	for _, d := range batches {
		if err := r.persist(d.HardState, d.Entries); err != nil {
			return err
		}
	}
	return nil
}

func (r *Replica) restore(s raft.Snapshot) error {
	if err := r.store.Restore(s.Data); err != nil {
		// The snapshot does not decode: the core already counts it as
		// applied, so going on would diverge from the cluster. Stop; the
		// operator restores this node from a peer.
		return fmt.Errorf("replica %s: restore snapshot at index %d: %w", r.id, s.Meta.Index, err)
	}
	r.stats.Restores++
	r.applied, r.snapIndex = s.Meta.Index, s.Meta.Index
	r.learnStore()
	if p := r.conf; p != nil && p.index != 0 && p.index <= s.Meta.Index {
		r.conf = nil
		r.answerConf(p, fmt.Errorf("%w: decided inside a snapshot from the leader", ErrOutcomeUnknown))
	}
	// Our proposals inside the snapshot were decided, but we cannot tell
	// how: they may have taken effect.
	var covered []uint64
	for idx := range r.pending.byIndex {
		if idx <= s.Meta.Index {
			covered = append(covered, idx)
		}
	}
	slices.Sort(covered)
	for _, idx := range covered {
		p := r.pending.takeDisplaced(idx)
		r.answer(p, Response{Outcome: Info, Reason: "decided inside a snapshot from the leader"})
	}
	return nil
}

func (r *Replica) apply(e raft.Entry) {
	if e.Index <= r.applied {
		return
	}
	r.applied = e.Index
	r.stats.Applied++
	if e.Type == raft.EntryConfChange {
		r.applyConf(e)
	}
	if r.conf != nil {
		r.settleConf(e)
	}
	if e.Type == raft.EntryNormal && len(e.Data) > 0 {
		cmd, err := kv.UnmarshalCommand(e.Data)
		if err != nil {
			// Every replica skips the same bytes, so states stay equal.
			r.log.Error("skipping undecodable committed entry", "index", e.Index, "err", err)
		} else {
			res := r.store.Apply(e.Index, cmd)
			if cmd.ID.Node == string(r.id) {
				if p := r.pending.takeWrite(cmd.ID.N); p != nil {
					r.answer(p, resultResponse(res))
				}
			}
		}
	}
	if p := r.pending.takeDisplaced(e.Index); p != nil {
		r.answer(p, Response{Outcome: Fail, Reason: "lost leadership before the operation committed"})
	}
}

func resultResponse(res kv.Result) Response {
	switch res.Status {
	case kv.StatusOK:
		return Response{Outcome: OK, Value: res.Value, Present: true}
	case kv.StatusCASMismatch:
		return Response{Outcome: Fail, CASMismatch: true, Value: res.Value, Present: res.Present,
			Reason: "cas: current value differs"}
	case kv.StatusInvalid:
		return Response{Outcome: Fail, Reason: "invalid command"}
	}
	return Response{Outcome: Info, Reason: fmt.Sprintf("outcome unknown (%s): a retry of an older request", res.Status)}
}

func (r *Replica) maybeSnapshot() error {
	if r.applied-r.snapIndex < r.snapshotEvery {
		return nil
	}
	// Even the unsafe mode writes its deferred entries before a snapshot:
	// the log on disk must continue the snapshot.
	if err := r.flushDeferred(); err != nil {
		return err
	}
	s, err := r.rn.Compact(r.applied, r.store.Snapshot())
	if err != nil {
		return fmt.Errorf("replica %s: compact: %w", r.id, err)
	}
	if r.async.writer != nil {
		// In order with the writes before it, which it may cover.
		r.async.issued++
		r.async.writer.Write(Write{Seq: r.async.issued, Snapshot: s})
	} else if err := r.storage.SaveSnapshot(s); err != nil {
		return fmt.Errorf("replica %s: save snapshot %d: %w", r.id, s.Meta.Index, err)
	}
	r.snapIndex = s.Meta.Index
	r.stats.Snapshots++
	r.log.Info("snapshot taken", "index", s.Meta.Index, "bytes", len(s.Data))
	return nil
}

func parseCtx(b []byte) uint64 {
	n, _ := strconv.ParseUint(string(b), 36, 64)
	return n
}
