package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

func snap(index, term uint64) raft.Snapshot {
	return raft.Snapshot{
		Meta: raft.SnapshotMeta{Index: index, Term: term, Conf: raft.ConfState{Voters: []raft.NodeID{"n1", "n2", "n3"}}},
		Data: []byte(fmt.Sprintf("state at %d", index)),
	}
}

func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(dir, snapDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// segmentMaxIndex returns the highest entry index in a segment file.
func segmentMaxIndex(t *testing.T, path string) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hi uint64
	scanSegment(data, func(_ int, typ byte, payload []byte) error {
		if typ == recEntry {
			e, err := raft.UnmarshalEntry(payload)
			if err != nil {
				t.Fatal(err)
			}
			hi = max(hi, e.Index)
		}
		return nil
	})
	return hi
}

// TestSnapshotCompaction: a snapshot the log contains removes exactly the
// leading segments it covers, keeps the later entries readable, and the
// hard state survives although its only record was in a removed segment.
func TestSnapshotCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 300}
	s, _ := openT(t, dir, opts)
	m := model{hs: raft.HardState{Term: 1, Vote: "n2"}}
	if err := s.Save(m.hs, nil); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 100; i += 5 {
		if err := s.Save(raft.HardState{}, ents(i, i+4, 1)); err != nil {
			t.Fatal(err)
		}
		m.append(raft.HardState{}, ents(i, i+4, 1))
	}
	before := segmentFiles(t, dir)
	if len(before) < 5 {
		t.Fatalf("test setup: %d segments", len(before))
	}
	// Snapshot one short of the end of the fourth segment: the first
	// three go, the fourth holds a live entry and must stay.
	at := segmentMaxIndex(t, before[3]) - 1
	if segmentMaxIndex(t, before[2]) > at {
		t.Fatal("test setup: segments overlap")
	}
	if err := s.SaveSnapshot(snap(at, 1)); err != nil {
		t.Fatal(err)
	}
	after := segmentFiles(t, dir)
	if want := before[3:]; !slices.Equal(after, want) {
		t.Fatalf("segments after compaction:\n%v\nwant\n%v", after, want)
	}
	if got := snapshotFiles(t, dir); !slices.Equal(got, []string{snapshotName(1, at)}) {
		t.Fatalf("snapshot files %v", got)
	}
	closeT(t, s)

	s, st := openT(t, dir, opts)
	m.snap, m.log = snap(at, 1), m.log[at:]
	checkState(t, st, m)

	// Entries after the snapshot stay appendable; a newer snapshot replaces
	// the old file.
	if err := s.Save(raft.HardState{Term: 2, Vote: "n3", Commit: 100}, ents(101, 110, 2)); err != nil {
		t.Fatal(err)
	}
	m.append(raft.HardState{Term: 2, Vote: "n3", Commit: 100}, ents(101, 110, 2))
	if err := s.SaveSnapshot(snap(105, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(snap(90, 1)); err != nil { // older: ignored
		t.Fatal(err)
	}
	if got := snapshotFiles(t, dir); !slices.Equal(got, []string{snapshotName(2, 105)}) {
		t.Fatalf("snapshot files %v", got)
	}
	closeT(t, s)
	_, st = openT(t, dir, opts)
	m.snap, m.log = snap(105, 2), m.log[105-at:]
	checkState(t, st, m)
}

// TestSnapshotFromLeader: a snapshot the log does not contain discards
// the whole log.
func TestSnapshotFromLeader(t *testing.T) {
	cases := map[string]raft.Snapshot{
		"beyond the log":                      snap(20, 3),
		"conflicting term":                    snap(5, 2),
		"at the last index with another term": snap(10, 2),
	}
	for name, sn := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 150}
			m := buildLog(t, dir, opts, 10)
			old := segmentFiles(t, dir)
			s, _ := openT(t, dir, opts)
			if err := s.SaveSnapshot(sn); err != nil {
				t.Fatal(err)
			}
			for _, f := range segmentFiles(t, dir) {
				if slices.Contains(old, f) {
					t.Errorf("segment %s of the discarded log is still there", f)
				}
			}
			m.snap, m.log = sn, nil
			next := ents(sn.Meta.Index+1, sn.Meta.Index+3, sn.Meta.Term)
			if err := s.Save(raft.HardState{}, next); err != nil {
				t.Fatal(err)
			}
			m.append(raft.HardState{}, next)
			// Crash: the copy is taken without Close.
			crash := t.TempDir()
			copyDir(t, dir, crash)
			closeT(t, s)
			_, st := openT(t, dir, opts)
			checkState(t, st, m)
			_, st = openT(t, crash, opts)
			checkState(t, st, m)
		})
	}
}

// TestSnapshotCrashBeforeLogReset: the snapshot file is durable but the
// crash came before the log was reset or compacted. Open must reconcile:
// discard a log that does not continue the snapshot, keep one that does.
func TestSnapshotCrashBeforeLogReset(t *testing.T) {
	cases := []struct {
		snap raft.Snapshot
		keep bool
	}{
		{snap(20, 3), false},
		{snap(5, 2), false},
		{snap(5, 1), true},
		{snap(10, 1), true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d-%d", c.snap.Meta.Index, c.snap.Meta.Term), func(t *testing.T) {
			dir := t.TempDir()
			m := buildLog(t, dir, Options{}, 10)
			if _, err := writeSnapshot(filepath.Join(dir, snapDir), c.snap, fsyncer{}); err != nil {
				t.Fatal(err)
			}
			m.snap = c.snap
			m.log = nil
			if c.keep {
				m.log = ents(c.snap.Meta.Index+1, 10, 1)
			}
			s, st := openT(t, dir, Options{})
			checkState(t, st, m)
			next := ents(m.lastIndex()+1, m.lastIndex()+2, 4)
			if err := s.Save(raft.HardState{Term: 4, Commit: m.lastIndex()}, next); err != nil {
				t.Fatal(err)
			}
			m.append(raft.HardState{Term: 4, Commit: m.lastIndex()}, next)
			closeT(t, s)
			_, st = openT(t, dir, Options{})
			checkState(t, st, m)
		})
	}
}

// TestSnapshotCrashDuringRemoval: segment removals that did not reach the
// disk leave old segments in front of the retained ones; recovery must
// give the same state.
func TestSnapshotCrashDuringRemoval(t *testing.T) {
	for _, sn := range []raft.Snapshot{snap(40, 1), snap(60, 5)} {
		t.Run(fmt.Sprint(sn.Meta.Index), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{SegmentSize: 150}
			m := buildLog(t, dir, opts, 50)
			old := t.TempDir()
			copyDir(t, filepath.Join(dir, walDir), old)
			s, _ := openT(t, dir, opts)
			if err := s.SaveSnapshot(sn); err != nil {
				t.Fatal(err)
			}
			closeT(t, s)
			m.snap = sn
			m.log = nil
			if sn.Meta.Index < 50 {
				m.log = ents(sn.Meta.Index+1, 50, 1)
			}
			// Put back the removed segments. Copying the whole old WAL also
			// rewinds the segment kept, which Open must then replay from
			// the old copy: it is the state before compaction.
			copyDir(t, old, filepath.Join(dir, walDir))
			_, st := openT(t, dir, opts)
			checkState(t, st, m)
		})
	}
}

func TestCorruptSnapshot(t *testing.T) {
	for _, withOlder := range []bool{false, true} {
		t.Run(fmt.Sprint("older=", withOlder), func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, Options{}, 10)
			s, _ := openT(t, dir, Options{})
			if err := s.SaveSnapshot(snap(8, 1)); err != nil {
				t.Fatal(err)
			}
			closeT(t, s)
			if withOlder {
				// An older complete snapshot does not make the newest one's
				// damage acceptable: the log it would need is gone.
				if _, err := writeSnapshot(filepath.Join(dir, snapDir), snap(4, 1), fsyncer{}); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, snapDir, snapshotName(1, 8))
			data, _ := os.ReadFile(path)
			data[len(data)-2] ^= 0x10
			os.WriteFile(path, data, 0o640)
			_, _, err := Open(dir, Options{})
			wantCorrupt(t, err, path, 0)
		})
	}
}

// TestSnapshotDirectoryHygiene: leftover temporary files and older
// snapshots are removed on Open; unknown files are left alone.
func TestSnapshotDirectoryHygiene(t *testing.T) {
	dir := t.TempDir()
	buildLog(t, dir, Options{}, 10)
	sd := filepath.Join(dir, snapDir)
	for _, sn := range []raft.Snapshot{snap(3, 1), snap(7, 1)} {
		if _, err := writeSnapshot(sd, sn, fsyncer{}); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(sd, snapshotName(1, 9)+tmpExt), []byte("partial"), 0o640)
	os.WriteFile(filepath.Join(sd, "README"), []byte("x"), 0o640)
	logger, logs := logBuffer()
	_, st := openT(t, dir, Options{Logger: logger})
	if st.Snapshot.Meta.Index != 7 || len(st.Entries) != 3 {
		t.Fatalf("recovered snapshot %d and %d entries", st.Snapshot.Meta.Index, len(st.Entries))
	}
	if got := snapshotFiles(t, dir); !slices.Equal(got, []string{snapshotName(1, 7), "README"}) {
		t.Errorf("snapshot directory holds %v", got)
	}
	if !strings.Contains(logs.String(), "README") {
		t.Errorf("unexpected file not reported: %s", logs)
	}
}

// TestSnapshotConfState: the configuration at the snapshot's index, with
// voters and learners, survives a reopen; a snapshot whose configuration
// is impossible (CRC intact, content wrong) is corruption, named as such.
func TestSnapshotConfState(t *testing.T) {
	dir := t.TempDir()
	sn := snap(8, 1)
	sn.Meta.Conf = raft.ConfState{Voters: []raft.NodeID{"n1", "n2", "n4"}, Learners: []raft.NodeID{"n5", "n6"}}
	buildLog(t, dir, Options{}, 10)
	s, _ := openT(t, dir, Options{})
	if err := s.SaveSnapshot(sn); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	_, st := openT(t, dir, Options{})
	if !st.Snapshot.Meta.Conf.Equal(sn.Meta.Conf) {
		t.Fatalf("conf after reopen %v, want %v", st.Snapshot.Meta.Conf, sn.Meta.Conf)
	}

	bad := snap(9, 1)
	bad.Meta.Conf = raft.ConfState{Voters: []raft.NodeID{"n1", "n2"}, Learners: []raft.NodeID{"n2"}} // not disjoint
	if _, err := writeSnapshot(filepath.Join(dir, snapDir), bad, fsyncer{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(dir, Options{})
	wantCorrupt(t, err, filepath.Join(dir, snapDir, snapshotName(1, 9)), recordHeaderLen+1)
	if !strings.Contains(err.Error(), "undecodable snapshot") {
		t.Errorf("error does not say what is wrong: %v", err)
	}
}
