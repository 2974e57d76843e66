package raft

import "encoding/binary"

// readRequest is a ReadIndex request waiting for its quorum round.
type readRequest struct {
	// id names the request's heartbeat round; it, not ctx, travels in
	// the heartbeats, since only the leader can make it unique.
	id    uint64
	ctx   []byte
	from  NodeID // who asked: ourselves or a follower
	index uint64 // the commit index when the request arrived
	acks  map[NodeID]bool
}

// readIndexQueue holds a leader's reads in arrival order. A quorum's
// heartbeat acknowledgement of one request confirms leadership for every
// request queued before it too (thesis §6.4).
type readIndexQueue struct {
	queue []*readRequest
	// seq numbers requests; never reset, so an acknowledgement of an
	// earlier round (delayed or duplicated by the network) cannot be taken
	// for one of a later request. Clients' contexts are no substitute:
	// each node's clients pick their own, and may pick the same.
	seq uint64
	// waiting holds reads that arrived before this term's no-op committed:
	// until then the commit index may lag what earlier leaders committed.
	waiting []Message
	// sentRound is the request whose heartbeat round went out last.
	sentRound uint64
}

// roundFree reports whether no read round is out: reads that arrive
// while one is then share the next round, so a busy leader sends one
// round per round trip instead of one per loop turn. A round lost on the
// network is resent by the next heartbeat, which carries the last ctx.
func (q *readIndexQueue) roundFree() bool {
	return len(q.queue) == 0 || q.queue[0].id > q.sentRound
}

func (q *readIndexQueue) lastCtx() []byte {
	if len(q.queue) == 0 {
		return nil
	}
	return roundCtx(q.queue[len(q.queue)-1].id)
}

// roundCtx is the heartbeat context of read round id.
func roundCtx(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// drain forgets every request and returns the local ones' contexts.
func (q *readIndexQueue) drain() [][]byte {
	var local [][]byte
	for _, rr := range q.queue {
		if rr.from == None {
			local = append(local, rr.ctx)
		}
	}
	for _, m := range q.waiting {
		if m.From == None {
			local = append(local, m.Context)
		}
	}
	q.queue, q.waiting = nil, nil
	return local
}

func (r *raft) handleReadIndex(m Message) {
	from := m.From
	if from == r.id {
		from = None // a local read: answered through Ready.ReadStates
	}
	m.From = from
	if t, _ := r.log.term(r.log.committed); t != r.term {
		r.reads.waiting = append(r.reads.waiting, m)
		return
	}
	r.startRead(m)
}

func (r *raft) startRead(m Message) {
	if r.voters().hasQuorum(func(id NodeID) bool { return id == r.id }) {
		// We alone are a quorum: nobody else can have been elected.
		r.answerRead(m.From, r.log.committed, m.Context)
		return
	}
	r.reads.seq++
	rr := &readRequest{id: r.reads.seq, ctx: m.Context, from: m.From, index: r.log.committed,
		acks: map[NodeID]bool{r.id: true}}
	r.reads.queue = append(r.reads.queue, rr)
	r.readRoundDue = true
}

// releasePendingReads starts the reads that waited for the term's first
// commit.
func (r *raft) releasePendingReads() {
	if len(r.reads.waiting) == 0 {
		return
	}
	if t, _ := r.log.term(r.log.committed); t != r.term {
		return
	}
	waiting := r.reads.waiting
	r.reads.waiting = nil
	for _, m := range waiting {
		r.startRead(m)
	}
}

// ackRead records a heartbeat acknowledgement carrying ctx.
func (r *raft) ackRead(from NodeID, ctx []byte) {
	if len(ctx) != 8 {
		return
	}
	id := binary.BigEndian.Uint64(ctx)
	at := -1
	for i, rr := range r.reads.queue {
		if rr.id == id {
			at = i
			break
		}
	}
	if at < 0 {
		return
	}
	rr := r.reads.queue[at]
	rr.acks[from] = true
	if !r.voters().hasQuorum(func(id NodeID) bool { return rr.acks[id] }) {
		return
	}
	done := r.reads.queue[:at+1]
	r.reads.queue = append([]*readRequest(nil), r.reads.queue[at+1:]...)
	for _, d := range done {
		r.answerRead(d.from, d.index, d.ctx)
	}
}

func (r *raft) answerRead(to NodeID, index uint64, ctx []byte) {
	if to == None {
		r.readStates = append(r.readStates, ReadState{Index: index, RequestCtx: ctx})
		return
	}
	r.send(Message{Type: MsgReadIndexResp, To: to, Index: index, Context: ctx})
}
