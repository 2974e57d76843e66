// Package storage is raftnode's durable log: the Raft hard state, log
// entries and snapshots on disk, with real fsync.
//
// Layout of a data directory:
//
//	<dir>/wal/<seq>-<first>.log    append-only log segments (segment.go)
//	<dir>/snap/<term>-<index>.snap snapshots (snapshot.go)
//
// Every segment is a sequence of framed, CRC-32C checked records
// (record.go): a header, then entries, hard states and log resets in the
// order they were appended. Open replays them (recover.go): later records
// win, a torn write at the tail of the last segment is cut off, and any
// other damage stops the node with an error naming file and offset.
//
// Group commit: Append writes a batch with one write syscall and no
// fsync; Sync makes everything appended so far durable with one fsync. A
// caller that appends several Ready batches before one Sync pays one
// fsync for all of them.
package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/raftcheck/raftcheck/node/raft"
)

// State is what a node recovers on start.
type State struct {
	HardState raft.HardState
	Snapshot  raft.Snapshot // empty if none
	// Entries are contiguous, all with Index > Snapshot.Meta.Index.
	Entries []raft.Entry
}

// Options tune a Storage.
type Options struct {
	// SegmentSize: roll to a new segment file once the current one holds
	// at least this many bytes (checked before each Append, so a segment
	// may exceed it by one batch); default 64 MiB.
	SegmentSize int64
	// Logger receives warnings such as a torn tail cut off; nil discards.
	Logger *slog.Logger
	// UnsafeNoFsync never calls fsync, on files or directories, while
	// every method still reports success: raftnode's --unsafe=no-fsync,
	// which acknowledges writes that a power failure loses.
	UnsafeNoFsync bool
}

// DefaultSegmentSize is used when Options.SegmentSize is not positive.
const DefaultSegmentSize = 64 << 20

// ErrClosed is returned by operations on a closed Storage.
var ErrClosed = errors.New("storage: closed")

// Storage is the durable log of one node. Its methods are safe for
// concurrent use, though a node normally drives it from one goroutine.
type Storage struct {
	mu      sync.Mutex
	walDir  string
	snapDir string
	opts    Options
	log     *slog.Logger
	fsync   fsyncer

	segs     []*segment // in seq order; the last is the one appended to
	f        *os.File   // the last segment, opened for appending
	dirty    bool       // f holds data not yet fsynced
	dirDirty bool       // walDir has a new file not yet fsynced

	snapIndex, snapTerm uint64
	terms               termRuns // terms of the entries after the snapshot
	hs                  raft.HardState
	hsSeq               uint64 // segment holding the latest hard state record

	buf    []byte // reused write buffer
	err    error  // sticky: set after a failed write or fsync
	closed bool

	syncs atomic.Uint64
}

// Append writes hs (if not empty) and ents to the current segment with one
// write syscall, without fsync. An entry whose index is <= the last stored
// index replaces that entry and everything after it (Raft log truncation
// on conflict). ents must be contiguous and start after the snapshot and
// at most one past the last stored index.
func (s *Storage) Append(hs raft.HardState, ents []raft.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if hs.IsEmpty() && len(ents) == 0 {
		return nil
	}
	if err := s.checkEntries(ents); err != nil {
		return err
	}
	// Roll before writing, so a batch never spans two segments. A
	// segment always takes at least one batch, however small SegmentSize.
	if cur := s.segs[len(s.segs)-1]; cur.size >= s.opts.SegmentSize && cur.size > segmentHeaderSize {
		first := s.terms.last + 1
		if len(ents) > 0 {
			first = ents[0].Index
		}
		if err := s.roll(first); err != nil {
			return err
		}
	}
	buf := s.buf[:0]
	var err error
	// The hard state goes first: if a crash tears the batch, a surviving
	// prefix never holds entries of a term the hard state has not reached.
	if !hs.IsEmpty() {
		if buf, err = appendRecordWith(buf, recHardState, func(b []byte) []byte { return raft.MarshalHardState(b, hs) }); err != nil {
			return fmt.Errorf("storage: append hard state: %w", err)
		}
	}
	for _, e := range ents {
		if buf, err = appendRecordWith(buf, recEntry, func(b []byte) []byte { return raft.MarshalEntry(b, e) }); err != nil {
			return fmt.Errorf("storage: append entry %d: %w", e.Index, err)
		}
	}
	if err := s.write(buf); err != nil {
		return err
	}
	if cap(buf) <= 4<<20 { // do not pin the memory of an exceptional batch
		s.buf = buf
	}
	cur := s.segs[len(s.segs)-1]
	if len(ents) > 0 {
		cur.maxIndex = max(cur.maxIndex, ents[len(ents)-1].Index)
		s.terms.append(ents)
	}
	if !hs.IsEmpty() {
		s.hs, s.hsSeq = hs, cur.seq
	}
	return nil
}

func (s *Storage) checkEntries(ents []raft.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	if first := ents[0].Index; first <= s.snapIndex || first > s.terms.last+1 {
		return fmt.Errorf("storage: append from index %d: the log holds indices %d..%d after a snapshot at %d",
			first, s.snapIndex+1, s.terms.last, s.snapIndex)
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].Index != ents[i-1].Index+1 {
			return fmt.Errorf("storage: append: entry index %d follows %d", ents[i].Index, ents[i-1].Index)
		}
	}
	return nil
}

// write appends buf to the current segment. A failed write leaves the
// file in an unknown state, so the Storage refuses further use; restarting
// the node recovers through the torn-tail rule.
func (s *Storage) write(buf []byte) error {
	cur := s.segs[len(s.segs)-1]
	n, err := s.f.Write(buf)
	cur.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("storage: write %s at offset %d: %w", cur.path, cur.size-int64(n), err)
		return s.err
	}
	s.dirty = true
	return nil
}

// Sync makes everything appended so far durable: an fsync of the segment
// and, when a segment was created since the last Sync, of the directory.
func (s *Storage) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	return s.sync()
}

// sync fsyncs the current segment if it has unsynced data, then the WAL
// directory if it has a new entry. After a failed fsync the kernel may
// have dropped the dirty pages and cleared the error, so a retry could
// "succeed" without the data: the failure is made permanent instead.
func (s *Storage) sync() error {
	if s.dirty {
		if err := s.fsync.file(s.f); err != nil {
			s.err = fmt.Errorf("storage: fsync %s: %w", s.segs[len(s.segs)-1].path, err)
			return s.err
		}
		if !s.fsync.skip {
			s.syncs.Add(1)
		}
		s.dirty = false
	}
	if s.dirDirty {
		if err := s.fsync.dir(s.walDir); err != nil {
			s.err = err
			return err
		}
		s.dirDirty = false
	}
	return nil
}

// Save is Append then Sync: when it returns, hs and ents are durable.
func (s *Storage) Save(hs raft.HardState, ents []raft.Entry) error {
	if err := s.Append(hs, ents); err != nil {
		return err
	}
	return s.Sync()
}

// roll finishes the current segment and starts the next. The finished
// segment is fsynced first, which is what lets recovery treat damage in
// any segment but the last as corruption.
func (s *Storage) roll(first uint64) error {
	if err := s.sync(); err != nil {
		return err
	}
	cur := s.segs[len(s.segs)-1]
	err := s.f.Close()
	s.f = nil
	if err != nil {
		s.err = fmt.Errorf("storage: close %s: %w", cur.path, err)
		return s.err
	}
	seg, f, err := createSegment(s.walDir, cur.seq+1, first)
	if err != nil {
		s.err = err // no segment is open for appending any more
		return err
	}
	s.segs, s.f, s.dirty, s.dirDirty = append(s.segs, seg), f, true, true
	return nil
}

func (s *Storage) usable() error {
	if s.closed {
		return ErrClosed
	}
	if s.err != nil {
		return fmt.Errorf("storage: unusable after an earlier failure: %w", s.err)
	}
	return nil
}

// SyncCount returns how many fsyncs of log data were done (for group-commit
// metrics and tests). Directory fsyncs are not counted.
func (s *Storage) SyncCount() uint64 { return s.syncs.Load() }

// Close makes appended data durable and releases the files. It is safe to
// call more than once.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.err == nil {
		err = s.sync()
	}
	if s.f != nil {
		if cerr := s.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("storage: close: %w", cerr)
		}
	}
	return err
}
