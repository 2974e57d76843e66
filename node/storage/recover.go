package storage

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Recovery replays every segment in order.
//
// Torn tail versus corruption. Only the last segment can legitimately end
// in a partial write: a segment is fsynced before the next one is created,
// so a damaged record anywhere in an earlier segment is corruption. In the
// last segment, a record that does not decode (too short for its header or
// its length, a zero or absurd length, a CRC mismatch) is a torn tail if
// and only if no CRC-valid record of a known type starts at any later byte
// offset of the file. Then everything from that record on (a partial
// write, garbage, or zeros that a crash or preallocation left) is cut off,
// the file truncated to the last good record and a warning logged. If a
// valid record does follow, data that had been written after the damage
// is still there, so the damage is not a crash artefact of the last write
// but corruption of older data: Open fails naming the file and the offset.
//
// A record whose CRC is valid but whose content makes no sense (unknown
// type, undecodable payload, an index gap) cannot come from a torn write
// and is always corruption.
//
// Known limits. A crash that persists a later unsynced page but not an
// earlier one is reported as corruption: the safe side, since the node
// refuses to start rather than guess. Conversely, damage to the very last
// record is cut off as torn even if that record had been fsynced, as in
// any WAL using this rule: a CRC cannot tell a torn write from a damaged
// acknowledged one, so the cut is logged with file and offset. The forward search costs O(tail) CRC checks that
// pass the cheap length and type filters; it only runs on a damaged tail.

// replayer rebuilds the log from records as Append wrote them: an entry at
// an index already present replaces it and everything after it.
type replayer struct {
	snapIndex uint64 // entries up to here are kept without their data
	hs        raft.HardState
	hsSeq     uint64 // segment holding the last hard state record

	started bool // an entry or reset record has been seen
	first   uint64
	ents    []raft.Entry
	// reset is the last log reset record, while the log still starts
	// right after it; it gives the term of index first-1.
	reset *logReset
	// where the log's first index was established, for gap errors.
	basePath string
	baseOff  int64
	// torn is set when the last segment's tail was cut off.
	torn bool
}

func (r *replayer) lastIndex() uint64 { return r.first + uint64(len(r.ents)) - 1 }

func (r *replayer) entry(e raft.Entry, path string, off int64) error {
	if e.Index == 0 {
		return corruptError(path, off, nil, "entry with index 0")
	}
	if !r.started || e.Index < r.first {
		// The first entry seen (earlier segments may have been compacted
		// away), or a truncation below everything replayed so far.
		r.started, r.first, r.ents, r.reset = true, e.Index, r.ents[:0], nil
		r.basePath, r.baseOff = path, off
	}
	if last := r.lastIndex(); e.Index > last+1 {
		return corruptError(path, off, nil, "entry index %d follows index %d: entries %d..%d are missing", e.Index, last, last+1, e.Index-1)
	}
	if e.Index <= r.snapIndex {
		e.Data = nil // covered by the snapshot; only the term matters
	}
	r.ents = append(r.ents[:e.Index-r.first], e)
	return nil
}

func (r *replayer) logReset(lr logReset, path string, off int64) {
	r.started, r.first, r.ents, r.reset = true, lr.index+1, nil, &lr
	r.basePath, r.baseOff = path, off
}

// replaySegment replays one segment file; last says whether it is the
// last one, whose tail may be torn. It sets seg.size and seg.maxIndex and
// reports whether the segment still needs a header (a torn or empty last
// segment).
func (r *replayer) replaySegment(seg *segment, last bool, log *slog.Logger) (needHeader bool, err error) {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return false, fmt.Errorf("storage: read segment: %w", err)
	}
	path := seg.path
	end, why, err := scanSegment(data, func(o int, typ byte, payload []byte) error {
		off := int64(o)
		if off == 0 {
			return checkHeader(seg, typ, payload)
		}
		switch typ {
		case recEntry:
			e, err := raft.UnmarshalEntry(payload)
			if err != nil {
				return corruptError(path, off, err, "undecodable entry")
			}
			seg.maxIndex = max(seg.maxIndex, e.Index)
			return r.entry(e, path, off)
		case recHardState:
			hs, err := raft.UnmarshalHardState(payload)
			if err != nil {
				return corruptError(path, off, err, "undecodable hard state")
			}
			r.hs, r.hsSeq = hs, seg.seq
		case recLogReset:
			lr, err := unmarshalLogReset(payload)
			if err != nil {
				return corruptError(path, off, err, "undecodable log reset")
			}
			r.logReset(lr, path, off)
		default:
			return corruptError(path, off, nil, "unexpected record type %d", typ)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	seg.size = int64(end)
	if why != nil {
		if !last {
			return false, corruptError(path, int64(end), why, "damaged record in a segment that is not the last one")
		}
		if p := nextValidRecord(data, end); p >= 0 {
			return false, corruptError(path, int64(end), why, "damaged record followed by a valid record at offset %d", p)
		}
		log.Warn("storage: cutting off a torn write at the end of the log",
			"file", path, "offset", end, "bytes", len(data)-end, "reason", why.Error())
		if err := os.Truncate(path, int64(end)); err != nil {
			return false, fmt.Errorf("storage: cut off torn tail: %w", err)
		}
		r.torn = true
	}
	if end == 0 {
		if !last {
			return false, corruptError(path, 0, nil, "segment without a header")
		}
		return true, nil
	}
	return false, nil
}

func checkHeader(seg *segment, typ byte, payload []byte) error {
	if typ != recSegmentHeader {
		return corruptError(seg.path, 0, nil, "segment starts with record type %d, not a header", typ)
	}
	h, err := unmarshalSegmentHeader(payload)
	if err != nil {
		return corruptError(seg.path, 0, err, "undecodable segment header")
	}
	if h.version != segmentFormat {
		return fmt.Errorf("storage: %s: segment format version %d is not supported (this build reads %d)", seg.path, h.version, segmentFormat)
	}
	if h.seq != seg.seq || h.first != seg.first {
		return corruptError(seg.path, 0, nil, "header says sequence %d first index %d, the file name says %d and %d", h.seq, h.first, seg.seq, seg.first)
	}
	return nil
}

// finish checks the replayed log against the snapshot and returns the
// entries after it. stale reports that the log does not continue the
// snapshot (it ends before it, or holds its index with another term: a
// snapshot from the leader was stored but the crash came before the log
// was reset); the caller must then reset the log.
func (r *replayer) finish(snap raft.Snapshot) (ents []raft.Entry, stale bool, err error) {
	if !r.started {
		return nil, false, nil
	}
	i, t := snap.Meta.Index, snap.Meta.Term
	if r.first > i+1 {
		if i == 0 {
			return nil, false, corruptError(r.basePath, r.baseOff, nil, "the log starts at index %d but there is no snapshot", r.first)
		}
		return nil, false, corruptError(r.basePath, r.baseOff, nil,
			"the log starts at index %d but the snapshot ends at index %d: entries %d..%d are missing", r.first, i, i+1, r.first-1)
	}
	last := r.lastIndex()
	switch {
	case last < i:
		return nil, true, nil
	case i >= r.first:
		if r.ents[i-r.first].Term != t {
			return nil, true, nil
		}
	case r.reset != nil && r.reset.index == i && r.reset.term != t:
		return nil, true, nil
	}
	// Otherwise index i was compacted away after it was checked against
	// this snapshot, or i == 0.
	return r.ents[i+1-r.first:], false, nil
}
