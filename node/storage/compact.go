package storage

import (
	"errors"
	"fmt"
	"os"

	"github.com/raftcheck/raftcheck/node/raft"
)

// SaveSnapshot durably stores snap (temporary file, fsync, rename, fsync
// of the directory), then releases the log segments whose entries are all
// <= snap.Meta.Index. Entries after the snapshot index stay readable. If
// the stored log does not hold snap.Meta.Index with snap.Meta.Term (a
// snapshot received from the leader via InstallSnapshot), the whole log is
// discarded. Older snapshot files are removed once the new one is durable.
// A snapshot not newer than the stored one is ignored.
func (s *Storage) SaveSnapshot(snap raft.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	i, t := snap.Meta.Index, snap.Meta.Term
	if snap.IsEmpty() || i <= s.snapIndex {
		return nil
	}
	// The snapshot is durable before the log loses anything it covers; a
	// crash in between is repaired by Open (see replayer.finish).
	name, err := writeSnapshot(s.snapDir, snap, s.fsync)
	if err != nil {
		return err
	}
	if term, ok := s.terms.term(i); ok && term == t {
		s.snapIndex, s.snapTerm = i, t
		s.terms.compact(i)
		err = s.compact()
	} else {
		err = s.resetLog(i, t)
	}
	if err != nil {
		return err
	}
	removeSnapshotsExcept(s.snapDir, name, s.log)
	return nil
}

// compact removes the longest prefix of segments, never the current one,
// whose entries the snapshot covers. Only a prefix: replay relies on the
// records of every retained segment following those before it.
func (s *Storage) compact() error {
	n := 0
	for n < len(s.segs)-1 && s.segs[n].maxIndex <= s.snapIndex {
		n++
	}
	if n == 0 {
		return nil
	}
	if s.hsSeq != 0 && s.hsSeq < s.segs[n].seq {
		// The latest hard state record is in a segment about to go: write
		// it again, durably, so the term and vote survive the removal.
		if err := s.write(appendRecord(nil, recHardState, raft.MarshalHardState(nil, s.hs))); err != nil {
			return err
		}
		s.hsSeq = s.segs[len(s.segs)-1].seq
		if err := s.sync(); err != nil {
			return err
		}
	}
	return s.removeSegments(n)
}

// resetLog discards the whole log, which now ends at snapshot (i, t): a
// new segment starting with a log reset record and the hard state is made
// durable, then every older segment is removed. A crash before the
// removals finish is harmless: replay meets the reset record after them.
func (s *Storage) resetLog(i, t uint64) error {
	if err := s.roll(i + 1); err != nil {
		return err
	}
	buf := appendRecord(nil, recLogReset, marshalLogReset(logReset{index: i, term: t}))
	if !s.hs.IsEmpty() {
		buf = appendRecord(buf, recHardState, raft.MarshalHardState(nil, s.hs))
	}
	if err := s.write(buf); err != nil {
		return err
	}
	if !s.hs.IsEmpty() {
		s.hsSeq = s.segs[len(s.segs)-1].seq
	}
	if err := s.sync(); err != nil {
		return err
	}
	s.snapIndex, s.snapTerm = i, t
	s.terms.reset(i)
	return s.removeSegments(len(s.segs) - 1)
}

// removeSegments deletes the first n segments, oldest first, fsyncing the
// directory after each, so that a crash leaves a suffix of the segments
// and never a hole in their sequence (which Open reports as lost data).
func (s *Storage) removeSegments(n int) error {
	for ; n > 0; n-- {
		seg := s.segs[0]
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("storage: remove compacted segment: %w", err)
		}
		if err := s.fsync.dir(s.walDir); err != nil {
			return err
		}
		s.segs = s.segs[1:]
		s.log.Debug("storage: removed compacted segment", "file", seg.path, "snapshot_index", s.snapIndex)
	}
	return nil
}
