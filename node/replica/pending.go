package replica

import (
	"sort"

	"github.com/raftcheck/raftcheck/node/kv"
)

// pendingReq is a client request waiting for its outcome.
type pendingReq struct {
	req      Request
	done     func(Response)
	deadline int // tick
	// Writes: the proposal's identity, and the log index it was appended
	// at when we proposed it as leader (0 when forwarded).
	id    kv.RequestID
	index uint64
	// Reads: the ReadIndex context, and the index to wait for once known.
	ctx       uint64
	readIndex uint64
	readReady bool
}

// pendingTable tracks requests by the keys their outcomes arrive under.
type pendingTable struct {
	writes  map[uint64]*pendingReq // by RequestID.N
	byIndex map[uint64]*pendingReq // leader-local proposals by log index
	reads   map[uint64]*pendingReq // by read ctx
}

func newPendingTable() pendingTable {
	return pendingTable{writes: map[uint64]*pendingReq{}, byIndex: map[uint64]*pendingReq{},
		reads: map[uint64]*pendingReq{}}
}

func (t *pendingTable) len() int { return len(t.writes) + len(t.reads) }

func (t *pendingTable) addWrite(p *pendingReq) {
	t.writes[p.id.N] = p
	if p.index > 0 {
		t.byIndex[p.index] = p
	}
}

func (t *pendingTable) addRead(p *pendingReq) { t.reads[p.ctx] = p }

func (t *pendingTable) takeWrite(n uint64) *pendingReq {
	p := t.writes[n]
	if p != nil {
		delete(t.writes, n)
		if p.index > 0 {
			delete(t.byIndex, p.index)
		}
	}
	return p
}

// takeDisplaced returns our proposal appended at index, called once the
// entry at index was applied and matched: if ours is still waiting, a
// different entry took its place, and ours can never commit (§5.3, Log
// Matching).
func (t *pendingTable) takeDisplaced(index uint64) *pendingReq {
	p := t.byIndex[index]
	if p == nil {
		return nil
	}
	return t.takeWrite(p.id.N)
}

func (t *pendingTable) takeRead(ctx uint64) *pendingReq {
	p := t.reads[ctx]
	delete(t.reads, ctx)
	return p
}

// readyReads returns confirmed reads whose index the state machine has
// reached, oldest first.
func (t *pendingTable) readyReads(applied uint64) []*pendingReq {
	var out []*pendingReq
	for ctx, p := range t.reads {
		if p.readReady && p.readIndex <= applied {
			out = append(out, p)
			delete(t.reads, ctx)
		}
	}
	sortByCtx(out)
	return out
}

// expire removes and returns requests past their deadline, in a fixed
// order so the simulator stays deterministic.
func (t *pendingTable) expire(now int) []*pendingReq {
	var out []*pendingReq
	for _, p := range t.writes {
		if p.deadline <= now {
			out = append(out, p)
		}
	}
	for _, p := range out {
		t.takeWrite(p.id.N)
	}
	var reads []*pendingReq
	for ctx, p := range t.reads {
		if p.deadline <= now {
			reads = append(reads, p)
			delete(t.reads, ctx)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id.N < out[j].id.N })
	sortByCtx(reads)
	return append(out, reads...)
}

func sortByCtx(ps []*pendingReq) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].ctx < ps[j].ctx })
}
