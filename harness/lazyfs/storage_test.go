package lazyfs

import (
	"path/filepath"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/storage"
)

// raftnode's storage across a power failure: what Save acknowledged
// survives; with the unsafe no-fsync mode, nothing does.
func TestStoragePowerFailure(t *testing.T) {
	for _, noFsync := range []bool{false, true} {
		d := newDisk(t)
		dir := filepath.Join(d.mountpoint, "data")
		s, _, err := storage.Open(dir, storage.Options{UnsafeNoFsync: noFsync})
		if err != nil {
			t.Fatal(err)
		}
		var ents []raft.Entry
		for i := uint64(1); i <= 50; i++ {
			ents = append(ents, raft.Entry{Term: 2, Index: i, Type: raft.EntryNormal, Data: []byte("value")})
		}
		if err := s.Save(raft.HardState{Term: 2, Vote: "n1", Commit: 50}, ents); err != nil {
			t.Fatal(err)
		}
		st := d.fs.Lose()
		s.Close() // fails (EIO): the disk is gone; it releases the files
		d.fs.Unmount()
		d.fs = nil
		d.mount()
		s, state, err := storage.Open(dir, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		t.Logf("no-fsync %v: Lose discarded %v; recovered %d entries, term %d", noFsync, st, len(state.Entries), state.HardState.Term)
		switch {
		case !noFsync && (len(state.Entries) != 50 || state.HardState.Vote != "n1" || st.Bytes != 0):
			t.Errorf("acknowledged entries lost: recovered %d entries, hard state %+v; Lose discarded %v", len(state.Entries), state.HardState, st)
		case noFsync && (len(state.Entries) != 0 || st.Bytes == 0):
			t.Errorf("no-fsync: recovered %d entries, Lose discarded %v; want nothing kept", len(state.Entries), st)
		}
	}
}
