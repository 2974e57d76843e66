package storage

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Open opens (creating if needed) the storage in dir and recovers its state.
func Open(dir string, opts Options) (*Storage, State, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Storage{walDir: filepath.Join(dir, walDir), snapDir: filepath.Join(dir, snapDir), opts: opts, log: opts.Logger,
		fsync: fsyncer{skip: opts.UnsafeNoFsync}}
	for _, d := range []string{dir, s.walDir, s.snapDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, State{}, fmt.Errorf("storage: open: %w", err)
		}
	}
	// The subdirectories must survive a crash before files in them matter.
	if err := s.fsync.dir(dir); err != nil {
		return nil, State{}, err
	}
	snap, snapName, err := loadSnapshot(s.snapDir, s.log)
	if err != nil {
		return nil, State{}, err
	}
	ents, err := s.recover(snap)
	if err != nil {
		if s.f != nil {
			s.f.Close()
		}
		return nil, State{}, err
	}
	if snapName != "" {
		removeSnapshotsExcept(s.snapDir, snapName, s.log)
	}
	hs := s.hs
	// Commit is a hint; a torn tail may have taken the entries it points
	// at (the batch was never acknowledged), and the core must not be told
	// it committed entries it does not have.
	hs.Commit = min(hs.Commit, s.terms.last)
	return s, State{HardState: hs, Snapshot: snap, Entries: ents}, nil
}

// recover replays the segments, opens the last one for appending and
// returns the entries after snap.
func (s *Storage) recover(snap raft.Snapshot) ([]raft.Entry, error) {
	segs, err := listSegments(s.walDir, s.log)
	if err != nil {
		return nil, err
	}
	s.snapIndex, s.snapTerm = snap.Meta.Index, snap.Meta.Term
	r := &replayer{snapIndex: s.snapIndex}
	needHeader := false
	for i, seg := range segs {
		if needHeader, err = r.replaySegment(seg, i == len(segs)-1, s.log); err != nil {
			return nil, err
		}
	}
	ents, stale, err := r.finish(snap)
	if err != nil {
		return nil, err
	}
	s.segs, s.hs, s.hsSeq = segs, r.hs, r.hsSeq
	s.terms.reset(s.snapIndex)
	s.terms.append(ents)
	if err := s.openLast(needHeader, r.torn); err != nil {
		return nil, err
	}
	if stale {
		s.log.Warn("storage: the log does not continue the snapshot; discarding it",
			"snapshot_index", s.snapIndex, "snapshot_term", s.snapTerm)
		if err := s.resetLog(s.snapIndex, s.snapTerm); err != nil {
			return nil, err
		}
		ents = nil
	}
	return ents, nil
}

// openLast opens the last segment for appending, creating the first one
// in a new directory. A segment whose tail was cut off is fsynced so the
// cut is durable before anything is appended behind it.
func (s *Storage) openLast(needHeader, torn bool) error {
	if len(s.segs) == 0 {
		seg, f, err := createSegment(s.walDir, 1, s.snapIndex+1)
		if err != nil {
			return err
		}
		s.segs, s.f, s.dirty, s.dirDirty = []*segment{seg}, f, true, true
		return s.sync()
	}
	seg := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("storage: open segment: %w", err)
	}
	s.f = f
	if needHeader {
		hdr := appendRecord(nil, recSegmentHeader, marshalSegmentHeader(segmentHeader{version: segmentFormat, seq: seg.seq, first: seg.first}))
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("storage: rewrite header of %s: %w", seg.path, err)
		}
		if _, err := f.Write(hdr); err != nil {
			return fmt.Errorf("storage: rewrite header of %s: %w", seg.path, err)
		}
		seg.size = int64(len(hdr))
	}
	if needHeader || torn {
		s.dirty = true
		return s.sync()
	}
	return nil
}
