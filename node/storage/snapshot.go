package storage

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Snapshot files live in <dir>/snap and are named
//
//	<term>-<index>.snap    both as 16 lower-case hex digits
//
// and hold exactly one record (see record.go) of type recSnapshot whose
// payload is raft.MarshalSnapshot. They are written as <name>.tmp, fsynced,
// renamed into place and the directory fsynced, so a file with the final
// name is always complete: a damaged one is corruption, not a torn write.
//
// Only the newest snapshot (highest index) is used. If it is damaged Open
// fails rather than fall back to an older one: older snapshots are deleted
// as soon as a newer one is durable and the log they would need has been
// compacted away, so a fallback could only ever "work" by losing data.

const (
	snapDir = "snap"
	snapExt = ".snap"
	tmpExt  = ".tmp"
)

func snapshotName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapExt)
}

func parseSnapshotName(name string) (term, index uint64, ok bool) {
	if len(name) != 2*hexWidth+1+len(snapExt) || !strings.HasSuffix(name, snapExt) || name[hexWidth] != '-' {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(name[:hexWidth], 16, 64)
	index, err2 := strconv.ParseUint(name[hexWidth+1:2*hexWidth+1], 16, 64)
	if err1 != nil || err2 != nil || snapshotName(term, index) != name {
		return 0, 0, false
	}
	return term, index, true
}

// writeSnapshot durably stores snap in dir and returns its file name.
func writeSnapshot(dir string, snap raft.Snapshot, sync fsyncer) (string, error) {
	payload := raft.MarshalSnapshot(nil, snap)
	if len(payload)+1 > maxRecordLen {
		return "", fmt.Errorf("storage: snapshot of %d bytes exceeds the %d byte record limit", len(payload), maxRecordLen-1)
	}
	data := appendRecord(make([]byte, 0, recordHeaderLen+1+len(payload)), recSnapshot, payload)
	name := snapshotName(snap.Meta.Term, snap.Meta.Index)
	final := filepath.Join(dir, name)
	tmp := final + tmpExt
	if err := writeFileSync(tmp, data, sync); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("storage: install snapshot: %w", err)
	}
	if err := sync.dir(dir); err != nil {
		return "", err
	}
	return name, nil
}

func writeFileSync(path string, data []byte, sync fsyncer) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("storage: write snapshot: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = sync.file(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: write snapshot %s: %w", path, err)
	}
	return nil
}

// loadSnapshot returns the newest snapshot in dir and its file name, or a
// zero snapshot and "" if there is none.
func loadSnapshot(dir string, log *slog.Logger) (raft.Snapshot, string, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return raft.Snapshot{}, "", fmt.Errorf("storage: list snapshots: %w", err)
	}
	type cand struct {
		name        string
		term, index uint64
	}
	var cands []cand
	for _, de := range des {
		if strings.HasSuffix(de.Name(), tmpExt) {
			continue // an interrupted write; removed by removeSnapshotsExcept
		}
		term, index, ok := parseSnapshotName(de.Name())
		if !ok || !de.Type().IsRegular() {
			log.Warn("storage: ignoring unexpected file in the snapshot directory", "file", filepath.Join(dir, de.Name()))
			continue
		}
		cands = append(cands, cand{de.Name(), term, index})
	}
	if len(cands) == 0 {
		return raft.Snapshot{}, "", nil
	}
	newest := slices.MaxFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.term, b.term))
	})
	path := filepath.Join(dir, newest.name)
	snap, err := readSnapshot(path, newest.term, newest.index)
	return snap, newest.name, err
}

func readSnapshot(path string, term, index uint64) (raft.Snapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("storage: read snapshot: %w", err)
	}
	typ, payload, n, err := decodeRecord(data)
	switch {
	case err != nil:
		return raft.Snapshot{}, corruptError(path, 0, err, "damaged snapshot file (%d bytes)", len(data))
	case typ != recSnapshot:
		return raft.Snapshot{}, corruptError(path, 0, nil, "record type %d, want a snapshot", typ)
	case n != len(data):
		return raft.Snapshot{}, corruptError(path, int64(n), nil, "%d bytes after the snapshot record", len(data)-n)
	}
	snap, err := raft.UnmarshalSnapshot(payload)
	if err != nil {
		return raft.Snapshot{}, corruptError(path, recordHeaderLen+1, err, "undecodable snapshot")
	}
	if snap.Meta.Index != index || snap.Meta.Term != term || snap.Meta.Index == 0 {
		return raft.Snapshot{}, corruptError(path, recordHeaderLen+1, nil,
			"snapshot is for index %d term %d, the file name says index %d term %d", snap.Meta.Index, snap.Meta.Term, index, term)
	}
	return snap, nil
}

// removeSnapshotsExcept deletes every snapshot and temporary file in dir
// but keep. Failures are only logged: a leftover file costs disk space,
// never correctness, and is retried next time.
func removeSnapshotsExcept(dir, keep string, log *slog.Logger) {
	des, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("storage: cannot list old snapshots", "dir", dir, "err", err)
		return
	}
	for _, de := range des {
		name := de.Name()
		_, _, isSnap := parseSnapshotName(name)
		if name == keep || !(isSnap || strings.HasSuffix(name, tmpExt)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("storage: cannot remove old snapshot", "file", filepath.Join(dir, name), "err", err)
		}
	}
}
