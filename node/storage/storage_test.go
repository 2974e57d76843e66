package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// --- helpers ---

// ents returns entries from..to (inclusive) of the given term, with data
// of varying length so records differ in size.
func ents(from, to, term uint64) []raft.Entry {
	var out []raft.Entry
	for i := from; i <= to; i++ {
		typ := raft.EntryNormal
		if i%7 == 0 {
			typ = raft.EntryNoop
		}
		out = append(out, raft.Entry{Term: term, Index: i, Type: typ, Data: bytes.Repeat([]byte{byte(i)}, int(i%13)+1)})
	}
	return out
}

// model is the expected content of a Storage.
type model struct {
	hs   raft.HardState
	snap raft.Snapshot
	log  []raft.Entry
}

func (m *model) append(hs raft.HardState, es []raft.Entry) {
	if !hs.IsEmpty() {
		m.hs = hs
	}
	if len(es) == 0 {
		return
	}
	first := m.snap.Meta.Index + 1
	m.log = append(m.log[:es[0].Index-first], es...)
}

func (m *model) lastIndex() uint64 { return m.snap.Meta.Index + uint64(len(m.log)) }

func openT(t testing.TB, dir string, opts Options) (*Storage, State) {
	t.Helper()
	s, st, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, st
}

func checkState(t testing.TB, got State, want model) {
	t.Helper()
	// Open lowers a commit index beyond the recovered log (see Open).
	want.hs.Commit = min(want.hs.Commit, want.lastIndex())
	if got.HardState != want.hs {
		t.Errorf("hard state = %+v, want %+v", got.HardState, want.hs)
	}
	if !reflect.DeepEqual(got.Snapshot, want.snap) {
		t.Errorf("snapshot = %+v, want %+v", got.Snapshot.Meta, want.snap.Meta)
	}
	if len(got.Entries) != len(want.log) {
		t.Fatalf("%d entries recovered, want %d (got %s, want %s)", len(got.Entries), len(want.log), span(got.Entries), span(want.log))
	}
	for i := range got.Entries {
		if !reflect.DeepEqual(got.Entries[i], want.log[i]) {
			t.Fatalf("entry %d = %+v, want %+v", i, got.Entries[i], want.log[i])
		}
	}
}

func span(es []raft.Entry) string {
	if len(es) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", es[0].Index, es[len(es)-1].Index)
}

func closeT(t testing.TB, s *Storage) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// copyDir copies a data directory, which is how tests take the disk image
// a crash would leave behind and then damage it.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o750)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// segmentFiles returns the paths of the WAL segments in dir, in order.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, walDir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	segs := segmentFiles(t, dir)
	if len(segs) == 0 {
		t.Fatal("no segments")
	}
	return segs[len(segs)-1]
}

// recordOffsets returns the offset of every record in a segment file.
func recordOffsets(t testing.TB, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for off := 0; off < len(data); {
		_, _, n, err := decodeRecord(data[off:])
		if err != nil {
			t.Fatalf("%s: record at %d: %v", path, off, err)
		}
		offs = append(offs, off)
		off += n
	}
	return offs
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// logBuffer returns a logger writing text to the returned buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// --- tests ---

// TestRoundTrip saves many batches, some truncating a suffix of the log,
// some appended without a sync in between, and checks that a reopened
// storage recovers exactly the model, then that appending continues.
func TestRoundTrip(t *testing.T) {
	for _, segSize := range []int64{0, 512} {
		t.Run(fmt.Sprintf("segment=%d", segSize), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: segSize}
			s, st := openT(t, dir, opts)
			checkState(t, st, model{})
			var m model
			rng := rand.New(rand.NewPCG(1, 2))
			term := uint64(1)
			truncations := 0
			for round := 0; round < 300; round++ {
				var hs raft.HardState
				if rng.IntN(3) == 0 {
					term++
					hs = raft.HardState{Term: term, Vote: raft.NodeID(fmt.Sprintf("n%d", rng.IntN(5))), Commit: m.lastIndex() / 2}
				}
				from := m.lastIndex() + 1
				if m.lastIndex() > 3 && rng.IntN(8) == 0 {
					from = m.lastIndex() - uint64(rng.IntN(4)) // conflict: replace a suffix
					truncations++
				}
				es := ents(from, from+uint64(rng.IntN(6)), term)
				var err error
				if rng.IntN(4) == 0 {
					err = s.Append(hs, es) // group several batches under one fsync
				} else {
					err = s.Save(hs, es)
				}
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				m.append(hs, es)
			}
			if truncations == 0 {
				t.Fatal("test did not exercise truncation")
			}
			closeT(t, s)
			if segSize > 0 && len(segmentFiles(t, dir)) < 3 {
				t.Fatalf("expected several segments, got %d", len(segmentFiles(t, dir)))
			}
			s, st = openT(t, dir, opts)
			checkState(t, st, m)
			// Continue after recovery, including a truncation, and recover again.
			es := ents(m.lastIndex()-1, m.lastIndex()+3, term+1)
			if err := s.Save(raft.HardState{Term: term + 1, Vote: "n1", Commit: 5}, es); err != nil {
				t.Fatal(err)
			}
			m.append(raft.HardState{Term: term + 1, Vote: "n1", Commit: 5}, es)
			closeT(t, s)
			_, st = openT(t, dir, opts)
			checkState(t, st, m)
		})
	}
}

// TestSaveIsDurable checks that Save fsyncs and that Append alone does
// not, and that the state is on disk without Close.
func TestSaveIsDurable(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, Options{})
	defer s.Close()
	base := s.SyncCount()
	hs := raft.HardState{Term: 3, Vote: "n2", Commit: 0}
	if err := s.Append(hs, ents(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	if got := s.SyncCount(); got != base {
		t.Fatalf("Append fsynced: SyncCount %d -> %d", base, got)
	}
	if err := s.Save(raft.HardState{Term: 3, Vote: "n2", Commit: 1}, ents(3, 3, 3)); err != nil {
		t.Fatal(err)
	}
	if got := s.SyncCount(); got != base+1 {
		t.Fatalf("Save: SyncCount %d -> %d, want one fsync for both batches", base, got)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := s.SyncCount(); got != base+1 {
		t.Fatalf("Sync with nothing new fsynced again: %d", got)
	}
	if err := s.Save(hs, nil); err != nil { // hard state alone
		t.Fatal(err)
	}
	if got := s.SyncCount(); got != base+2 {
		t.Fatalf("Save of a hard state did not fsync: %d", got)
	}
	// Without Close, as after a crash.
	crash := t.TempDir()
	copyDir(t, dir, crash)
	_, st := openT(t, crash, Options{})
	checkState(t, st, model{hs: raft.HardState{Term: 3, Vote: "n2", Commit: 0}, log: ents(1, 3, 3)})
}

func TestAppendRejectsBadEntries(t *testing.T) {
	s, _ := openT(t, t.TempDir(), Options{})
	defer s.Close()
	if err := s.Save(raft.HardState{}, ents(1, 5, 1)); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]raft.Entry{
		"gap":           ents(7, 8, 1),
		"index 0":       {{Term: 1, Index: 0}},
		"noncontiguous": {ents(6, 6, 1)[0], ents(8, 8, 1)[0]},
	}
	for name, es := range bad {
		if err := s.Append(raft.HardState{}, es); err == nil {
			t.Errorf("%s: Append succeeded", name)
		}
	}
	if err := s.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 3, Term: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(raft.HardState{}, ents(3, 4, 2)); err == nil {
		t.Error("Append at or below the snapshot index succeeded")
	}
	if err := s.Append(raft.HardState{}, ents(4, 4, 2)); err != nil {
		t.Errorf("Append right after the snapshot: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s, _ := openT(t, t.TempDir(), Options{})
	closeT(t, s)
	closeT(t, s) // idempotent
	if err := s.Save(raft.HardState{Term: 1}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close: %v, want ErrClosed", err)
	}
	if err := s.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 1, Term: 1}}); !errors.Is(err, ErrClosed) {
		t.Errorf("SaveSnapshot after Close: %v, want ErrClosed", err)
	}
}

// TestRollover writes across many small segments and recovers them.
func TestRollover(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 200}
	s, _ := openT(t, dir, opts)
	var m model
	for i := uint64(1); i <= 60; i += 3 {
		hs := raft.HardState{Term: 1, Commit: i - 1}
		es := ents(i, i+2, 1)
		if err := s.Save(hs, es); err != nil {
			t.Fatal(err)
		}
		m.append(hs, es)
	}
	closeT(t, s)
	files := segmentFiles(t, dir)
	if len(files) < 5 {
		t.Fatalf("%d segments, want at least 5", len(files))
	}
	for i, f := range files {
		seq, _, ok := parseSegmentName(filepath.Base(f))
		if !ok || seq != uint64(i+1) {
			t.Fatalf("segment %d is named %s", i, f)
		}
		// A segment may exceed SegmentSize only by its last batch.
		if i < len(files)-1 && fileSize(t, f) > 200+3*64 {
			t.Errorf("%s has %d bytes", f, fileSize(t, f))
		}
	}
	s, st := openT(t, dir, opts)
	checkState(t, st, m)
	es := ents(61, 70, 2)
	if err := s.Save(raft.HardState{Term: 2, Commit: 60}, es); err != nil {
		t.Fatal(err)
	}
	m.append(raft.HardState{Term: 2, Commit: 60}, es)
	closeT(t, s)
	_, st = openT(t, dir, opts)
	checkState(t, st, m)
}

// TestCommitClamped: a commit index beyond the recovered log (its entries
// were in a torn batch) is lowered to the last index.
func TestCommitClamped(t *testing.T) {
	dir := t.TempDir()
	s, _ := openT(t, dir, Options{})
	if err := s.Save(raft.HardState{Term: 1}, ents(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(raft.HardState{Term: 1, Commit: 5}, ents(4, 5, 1)); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	seg := lastSegment(t, dir)
	offs := recordOffsets(t, seg)
	// Cut inside the last entry record, then inside the one before.
	if err := os.Truncate(seg, int64(offs[len(offs)-2]+3)); err != nil {
		t.Fatal(err)
	}
	_, st := openT(t, dir, Options{})
	checkState(t, st, model{hs: raft.HardState{Term: 1, Commit: 3}, log: ents(1, 3, 1)})
}

func TestTermRuns(t *testing.T) {
	var tr termRuns
	tr.reset(0)
	tr.append(ents(1, 5, 1))
	tr.append(ents(6, 8, 2))
	tr.append(ents(7, 9, 3)) // replaces 7 and 8
	want := map[uint64]uint64{1: 1, 5: 1, 6: 2, 7: 3, 9: 3}
	for i, term := range want {
		if got, ok := tr.term(i); !ok || got != term {
			t.Errorf("term(%d) = %d, %v; want %d", i, got, ok, term)
		}
	}
	if _, ok := tr.term(10); ok {
		t.Error("term(10) beyond the log found")
	}
	tr.compact(6)
	if _, ok := tr.term(6); ok {
		t.Error("term(6) found after compaction to 6")
	}
	if got, ok := tr.term(7); !ok || got != 3 || tr.last != 9 {
		t.Errorf("after compaction term(7) = %d, %v, last %d", got, ok, tr.last)
	}
	tr.compact(9)
	if _, ok := tr.term(9); ok || tr.last != 9 {
		t.Errorf("after compacting everything: last %d", tr.last)
	}
}

// The unsafe no-fsync mode stores and recovers like the safe one (a clean
// close loses nothing on a real disk) but never fsyncs. The power failure
// that makes it lose data is tested on lazyfs (harness/lazyfs).
func TestUnsafeNoFsyncNeverSyncs(t *testing.T) {
	for _, skip := range []bool{false, true} {
		dir := t.TempDir()
		s, _ := openT(t, dir, Options{UnsafeNoFsync: skip, SegmentSize: 256})
		if err := s.Save(raft.HardState{Term: 1, Vote: "n1"}, ents(1, 40, 1)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSnapshot(raft.Snapshot{Meta: raft.SnapshotMeta{Index: 20, Term: 1}, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if got := s.SyncCount(); (got == 0) != skip {
			t.Errorf("UnsafeNoFsync=%v: %d fsyncs", skip, got)
		}
		closeT(t, s)
		_, st := openT(t, dir, Options{UnsafeNoFsync: skip})
		if len(st.Entries) != 20 || st.Snapshot.Meta.Index != 20 || st.HardState.Vote != "n1" {
			t.Errorf("UnsafeNoFsync=%v: reopened with %d entries, snapshot %d, vote %q", skip, len(st.Entries), st.Snapshot.Meta.Index, st.HardState.Vote)
		}
	}
}
