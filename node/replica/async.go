package replica

import (
	"fmt"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Write is one batch for a Writer. Batches are numbered from 1 in the
// order they must reach the disk.
type Write struct {
	Seq uint64
	// Snapshot, if not empty, is saved (durably) before the rest.
	Snapshot  raft.Snapshot
	HardState raft.HardState
	Entries   []raft.Entry
	// Sync asks for an fsync before the batch is reported durable. A
	// batch that only moves the commit index does without: the commit
	// index is a hint a restart may lose (the leader tells it again).
	Sync bool
	// Messages are sent by the writer once this batch (and every one
	// before it) is durable: they depend on it.
	Messages []raft.Message
}

// Writer persists batches off the caller's goroutine (etcd-io/raft's
// asynchronous storage writes). It carries them out in Seq order; once
// every batch up to seq is written, and synced where asked, it sends
// their Messages and the driver calls Replica.Durable(seq) and then
// Process. The replica meanwhile keeps
// stepping messages and accepting proposals; it holds back every message
// that depends on an unfinished write, and the core counts the leader's
// own copy of an entry toward commit only once Durable reports it.
type Writer interface {
	Write(w Write)
}

// heldMsg is a message waiting for write seq to be durable.
type heldMsg struct {
	seq uint64
	msg raft.Message
}

// durableMark tells the core, once write seq is durable, that its log is
// on disk up to (index, term).
type durableMark struct {
	seq, index, term uint64
}

// asyncState is the replica's bookkeeping of writes in flight.
type asyncState struct {
	writer Writer
	// issued numbers the last batch handed to the writer; durable the
	// last reported durable; synced the last that needed an fsync, and
	// voted the last that changed the term or vote.
	issued, durable, synced, voted uint64
	// issuedHS is the latest hard state; commitHS, if set, one that only
	// moved the commit index and waits to ride with the next write.
	issuedHS, commitHS raft.HardState
	held               []heldMsg
	marks              []durableMark
}

// persistAsync hands one Ready's persistent part to the writer, with the
// messages that must wait for it.
func (r *Replica) persistAsync(rd raft.Ready) {
	w := r.nextWrite(rd)
	r.sendAsync(rd.Messages, w)
	if w != nil {
		r.async.writer.Write(*w)
	}
}

// nextWrite numbers the write rd needs, if any.
func (r *Replica) nextWrite(rd raft.Ready) *Write {
	a := &r.async
	hs := rd.HardState
	if hs.IsEmpty() && len(rd.Entries) == 0 && rd.Snapshot.IsEmpty() {
		return nil
	}
	if r.unsafe.ForgetVote {
		hs.Vote = raft.None
	}
	voteChanged := !hs.IsEmpty() && (hs.Term != a.issuedHS.Term || hs.Vote != a.issuedHS.Vote)
	if !hs.IsEmpty() {
		a.issuedHS = hs
	}
	if len(rd.Entries) == 0 && rd.Snapshot.IsEmpty() && !voteChanged {
		// Only the commit index moved: it rides with the next write rather
		// than costing a write of its own (it is a hint a restart may lose
		// either way, since such writes are not fsynced).
		a.commitHS = hs
		return nil
	}
	if hs.IsEmpty() {
		hs = a.commitHS
	}
	a.commitHS = raft.HardState{}
	a.issued++
	w := Write{Seq: a.issued, Snapshot: rd.Snapshot, HardState: hs, Entries: rd.Entries,
		// no-fsync (unsafe) asks the writer for no fsync, ever.
		Sync: (len(rd.Entries) > 0 || voteChanged) && !r.unsafe.NoFsync}
	if w.Sync || !rd.Snapshot.IsEmpty() {
		a.synced = a.issued
	}
	if voteChanged {
		a.voted = a.issued
	}
	switch {
	case len(rd.Entries) > 0:
		last := rd.Entries[len(rd.Entries)-1]
		a.marks = append(a.marks, durableMark{seq: a.issued, index: last.Index, term: last.Term})
	case !rd.Snapshot.IsEmpty():
		m := rd.Snapshot.Meta
		a.marks = append(a.marks, durableMark{seq: a.issued, index: m.Index, term: m.Term})
	}
	return &w
}

// sendAsync sends each message as soon as what it asserts is durable,
// holding the rest. An acknowledgement of entries waits for every write
// issued so far that needed an fsync (they hold those entries); anything
// else a node says asserts only its term and vote, so it waits for the
// last write that changed them. A leader's appends thus go out before its
// own write of the same entries (thesis §10.2.1), and a follower's
// heartbeat answers (which confirm ReadIndex rounds) do not queue behind
// its fsync of entries. A message waiting for w (the write of the same
// Ready, the latest) travels with it: the writer sends it as soon as the
// write is durable, without a round through the event loop. One waiting
// for an earlier write is held here until Durable.
func (r *Replica) sendAsync(msgs []raft.Message, w *Write) {
	if len(msgs) == 0 {
		return
	}
	a := &r.async
	if a.durable >= a.synced {
		r.sender.Send(msgs)
		return
	}
	var now []raft.Message
	for _, m := range msgs {
		need := a.voted
		if m.Type == raft.MsgAppResp && !m.Reject {
			need = a.synced
		}
		switch {
		case a.durable >= need:
			now = append(now, m)
		case w != nil:
			w.Messages = append(w.Messages, m)
		default:
			a.held = append(a.held, heldMsg{seq: need, msg: m})
		}
	}
	if len(now) > 0 {
		r.sender.Send(now)
	}
}

// Durable reports that every batch up to seq handed to the Writer is
// written, and synced where it asked. Call Process after it.
func (r *Replica) Durable(seq uint64) error {
	a := &r.async
	if a.writer == nil {
		return fmt.Errorf("replica %s: Durable without a Writer", r.id)
	}
	if seq > a.issued {
		return fmt.Errorf("replica %s: write %d reported durable, only %d issued", r.id, seq, a.issued)
	}
	if seq <= a.durable {
		return nil
	}
	a.durable = seq
	i := 0
	for ; i < len(a.marks) && a.marks[i].seq <= seq; i++ {
		r.rn.Durable(a.marks[i].index, a.marks[i].term)
	}
	a.marks = a.marks[i:]
	var send []raft.Message
	keep := a.held[:0]
	for _, h := range a.held {
		if h.seq <= seq {
			send = append(send, h.msg)
		} else {
			keep = append(keep, h)
		}
	}
	a.held = keep
	if len(send) > 0 {
		r.sender.Send(send)
	}
	return nil
}
