package raft

import (
	"errors"
	"fmt"
)

// errCompacted means the requested index is covered by the snapshot.
var errCompacted = errors.New("raft: index compacted into the snapshot")

// raftLog is the node's view of the log: everything after the last
// snapshot, held in memory (the snapshot bounds its size), plus the marks
// that say how much of it is durable, committed and applied.
type raftLog struct {
	// snapshot covers indices up to snapshot.Meta.Index. Its Data is kept
	// so a leader can send it to a follower that fell behind compaction.
	snapshot Snapshot
	// entries[i].Index == snapshot.Meta.Index + 1 + i.
	entries []Entry
	// pending is a snapshot received from the leader that the driver has
	// not yet persisted and applied.
	pending *Snapshot

	// baseConf is the configuration at snapshot.Meta.Index: the
	// snapshot's, or the bootstrap one (empty for a joining node). confs
	// lists the conf entries of entries, in order: a configuration takes
	// effect as soon as its entry is in the log, and is undone when a
	// truncation removes it (thesis §4.1).
	baseConf ConfState
	confs    []confAt

	stabled uint64 // last index handed to the driver to persist
	// durable is the last index reported on disk (async storage writes):
	// a truncation below it takes it back.
	durable   uint64
	committed uint64
	applied   uint64
}

// confAt is the configuration set by the conf entry at index.
type confAt struct {
	index uint64
	conf  ConfState
}

// conf is the configuration in force: the latest in the log.
func (l *raftLog) conf() ConfState {
	if n := len(l.confs); n > 0 {
		return l.confs[n-1].conf
	}
	return l.baseConf
}

// lastConfIndex is the index of the last conf entry in the log (0: none
// after the snapshot).
func (l *raftLog) lastConfIndex() uint64 {
	if n := len(l.confs); n > 0 {
		return l.confs[n-1].index
	}
	return 0
}

// confAt returns the configuration in force at index i (>= the snapshot's).
func (l *raftLog) confAt(i uint64) ConfState {
	for k := len(l.confs) - 1; k >= 0; k-- {
		if l.confs[k].index <= i {
			return l.confs[k].conf
		}
	}
	return l.baseConf
}

// trackConfs records the configurations of the conf entries among ents,
// which were just appended.
func (l *raftLog) trackConfs(ents []Entry) {
	for _, e := range ents {
		if e.Type == EntryConfChange {
			l.confs = append(l.confs, confAt{index: e.Index, conf: confOfEntry(e, l.conf())})
		}
	}
}

// confOfEntry is the configuration a conf entry sets: the one its leader
// recorded, or, for bare change data, the change applied to prev. Data
// that does not decode changes nothing (step and NewRawNode refuse it).
func confOfEntry(e Entry, prev ConfState) ConfState {
	cc, cs, err := UnmarshalConfEntry(e.Data)
	if err != nil {
		return prev
	}
	if cs.IsEmpty() {
		if cs, err = prev.Apply(cc); err != nil {
			return prev
		}
	}
	return cs
}

func (l *raftLog) firstIndex() uint64 { return l.snapshot.Meta.Index + 1 }

func (l *raftLog) lastIndex() uint64 { return l.snapshot.Meta.Index + uint64(len(l.entries)) }

func (l *raftLog) lastTerm() uint64 {
	t, _ := l.term(l.lastIndex())
	return t
}

// term returns the term of the entry at i; 0 with no error for an index
// past the end, errCompacted for an index before the snapshot.
func (l *raftLog) term(i uint64) (uint64, error) {
	switch {
	case i == l.snapshot.Meta.Index:
		return l.snapshot.Meta.Term, nil
	case i < l.snapshot.Meta.Index:
		return 0, errCompacted
	case i > l.lastIndex():
		return 0, nil
	}
	return l.entries[i-l.firstIndex()].Term, nil
}

func (l *raftLog) matchTerm(i, t uint64) bool {
	lt, err := l.term(i)
	return err == nil && lt == t && i <= l.lastIndex()
}

// isUpToDate is the election restriction (§5.4.1): a candidate's log is at
// least as up to date as ours.
func (l *raftLog) isUpToDate(lastIndex, lastTerm uint64) bool {
	return lastTerm > l.lastTerm() || (lastTerm == l.lastTerm() && lastIndex >= l.lastIndex())
}

// slice returns entries in [lo, hi), at most maxBytes of data (but always
// at least one entry when lo < hi).
func (l *raftLog) slice(lo, hi uint64, maxBytes int) ([]Entry, error) {
	if lo < l.firstIndex() {
		return nil, errCompacted
	}
	if hi > l.lastIndex()+1 {
		hi = l.lastIndex() + 1
	}
	if lo >= hi {
		return nil, nil
	}
	ents := l.entries[lo-l.firstIndex() : hi-l.firstIndex()]
	size := 0
	for i, e := range ents {
		size += len(e.Data) + 16
		if i > 0 && size > maxBytes {
			ents = ents[:i]
			break
		}
	}
	// Callers keep the slice; copy so later truncation cannot change it.
	return append([]Entry(nil), ents...), nil
}

// append adds entries, replacing any existing suffix from the first new
// index on. The caller has checked that the entries follow on.
func (l *raftLog) append(ents ...Entry) {
	if len(ents) == 0 {
		return
	}
	first := ents[0].Index
	keep := first - l.firstIndex()
	// Appending in place is safe: every slice handed out of the log
	// (slice, unstable, compact) is a copy.
	l.entries = append(l.entries[:keep], ents...)
	for n := len(l.confs); n > 0 && l.confs[n-1].index >= first; n-- {
		l.confs = l.confs[:n-1]
	}
	l.trackConfs(ents)
	if l.stabled >= first {
		l.stabled = first - 1
	}
	if l.durable >= first {
		l.durable = first - 1
	}
}

// findConflict returns the index of the first entry of ents whose term
// differs from ours, or the first index past our log, or 0 if all match.
func (l *raftLog) findConflict(ents []Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// findConflictByTerm returns the largest index <= index whose term is <=
// term: the fast backtracking hint (§5.3, "conflict term" optimisation).
func (l *raftLog) findConflictByTerm(index, term uint64) (uint64, uint64) {
	if index > l.lastIndex() {
		index = l.lastIndex()
	}
	for {
		t, err := l.term(index)
		if err != nil || t <= term {
			return index, t
		}
		index--
	}
}

// maybeAppend is the follower side of AppendEntries. It returns the last
// index the leader's message establishes, or ok=false on a log mismatch.
func (l *raftLog) maybeAppend(prevIndex, prevTerm, commit uint64, ents []Entry) (uint64, bool, error) {
	if !l.matchTerm(prevIndex, prevTerm) {
		return 0, false, nil
	}
	lastNew := prevIndex + uint64(len(ents))
	if ci := l.findConflict(ents); ci != 0 {
		if ci <= l.committed {
			// A leader never rewrites committed entries; if one tries, the
			// cluster is broken and applying on would diverge.
			return 0, false, fmt.Errorf("raft: entry %d conflicts with committed index %d", ci, l.committed)
		}
		l.append(ents[ci-ents[0].Index:]...)
	}
	l.commitTo(min(commit, lastNew))
	return lastNew, true, nil
}

func (l *raftLog) commitTo(i uint64) {
	if i > l.committed && i <= l.lastIndex() {
		l.committed = i
	}
}

// restore replaces the log by a snapshot from the leader.
func (l *raftLog) restore(s Snapshot) {
	if !s.Meta.Conf.IsEmpty() {
		// (A snapshot from before configurations were recorded in it
		// keeps the one we have.)
		l.baseConf = s.Meta.Conf.clone()
	} else {
		l.baseConf = l.conf()
	}
	l.confs = nil
	l.snapshot = s
	l.entries = nil
	l.committed = s.Meta.Index
	l.stabled = s.Meta.Index
	// The snapshot is durable once the driver reports it so.
	l.durable = min(l.durable, s.Meta.Index-1)
	l.pending = &s
}

// compact discards entries up to and including i, which the driver has
// captured in a snapshot carrying data.
func (l *raftLog) compact(i uint64, data []byte) (Snapshot, error) {
	if i <= l.snapshot.Meta.Index {
		return Snapshot{}, fmt.Errorf("raft: compact %d: already compacted to %d", i, l.snapshot.Meta.Index)
	}
	if i > l.applied {
		return Snapshot{}, fmt.Errorf("raft: compact %d: only %d applied", i, l.applied)
	}
	t, err := l.term(i)
	if err != nil {
		return Snapshot{}, err
	}
	conf := l.confAt(i)
	s := Snapshot{Meta: SnapshotMeta{Index: i, Term: t, Conf: conf.clone()}, Data: data}
	l.baseConf = conf
	k := 0
	for k < len(l.confs) && l.confs[k].index <= i {
		k++
	}
	l.confs = append([]confAt(nil), l.confs[k:]...)
	l.entries = append([]Entry(nil), l.entries[i-l.firstIndex()+1:]...)
	l.snapshot = s
	return s, nil
}

// unstable returns the entries not yet known durable.
func (l *raftLog) unstable() []Entry {
	if l.stabled >= l.lastIndex() {
		return nil
	}
	lo := max(l.stabled+1, l.firstIndex())
	return append([]Entry(nil), l.entries[lo-l.firstIndex():]...)
}

// nextCommitted returns committed entries not yet handed out for applying.
func (l *raftLog) nextCommitted(maxBytes int) []Entry {
	lo := l.applied + 1
	if l.pending != nil {
		lo = max(lo, l.pending.Meta.Index+1)
	}
	lo = max(lo, l.firstIndex())
	if lo > l.committed {
		return nil
	}
	ents, _ := l.slice(lo, l.committed+1, maxBytes)
	return ents
}
