package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// randomLog returns a deterministic mix of writes, cas and retries over a few
// keys and clients, so sessions, duplicates and evictions all occur.
func randomLog(seed uint64, n int) []Command {
	r := rand.New(rand.NewPCG(seed, 0))
	seqs := map[string]uint64{}
	var log []Command
	for range n {
		client := ""
		if r.IntN(5) > 0 {
			client = fmt.Sprintf("c%d", r.IntN(12))
		}
		var seq uint64
		if client != "" {
			if r.IntN(4) > 0 {
				seqs[client]++
			}
			seq = max(seqs[client], 1) // sometimes a retry of the last seq
			seqs[client] = seq
		}
		key := fmt.Sprintf("k%d", r.IntN(8))
		if r.IntN(2) == 0 {
			log = append(log, write(client, seq, key, r.Int64N(5)-2))
		} else {
			log = append(log, cas(client, seq, key, r.Int64N(5)-2, r.Int64N(5)-2))
		}
	}
	return log
}

func TestSnapshotRoundTrip(t *testing.T) {
	opts := Options{MaxSessions: 6}
	log := randomLog(1, 400)
	orig := New(opts)
	for i, c := range log[:300] {
		orig.Apply(uint64(2*i+1), c) // gaps in the index are allowed
	}
	snap := orig.Snapshot()
	if snap[0] != snapshotV1 {
		t.Fatalf("first byte %d, want version %d (no membership)", snap[0], snapshotV1)
	}
	restored := New(opts)
	restored.Apply(1, write("z", 1, "stale", 1)) // replaced wholesale
	if err := restored.Restore(snap); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !bytes.Equal(restored.Snapshot(), snap) {
		t.Fatal("re-snapshot differs from the snapshot")
	}
	if restored.AppliedIndex() != orig.AppliedIndex() || restored.Len() != orig.Len() || restored.Sessions() != orig.Sessions() {
		t.Fatalf("restored applied=%d len=%d sessions=%d; want %d %d %d", restored.AppliedIndex(), restored.Len(),
			restored.Sessions(), orig.AppliedIndex(), orig.Len(), orig.Sessions())
	}
	if _, ok := restored.Get("stale"); ok {
		t.Fatal("Restore kept a key the snapshot does not have")
	}
	// Sessions, cached results and the eviction order survive: the rest of
	// the log gives the same answers on both.
	for i, c := range log[300:] {
		idx := orig.AppliedIndex() + 1
		if a, b := orig.Apply(idx, c), restored.Apply(idx, c); a != b {
			t.Fatalf("command %d %+v: original %+v, restored %+v", 300+i, c, a, b)
		}
	}
	if !bytes.Equal(restored.Snapshot(), orig.Snapshot()) {
		t.Fatal("states diverged after restore")
	}
}

// TestSnapshotDeterministic: equal states reached in different orders give
// identical bytes (map iteration order must not leak into the snapshot).
func TestSnapshotDeterministic(t *testing.T) {
	a, b := New(Options{}), New(Options{})
	for i := range 100 {
		a.Apply(uint64(i+1), write("", 0, fmt.Sprintf("k%d", i), int64(i)))
		b.Apply(uint64(i+1), write("", 0, fmt.Sprintf("k%d", 99-i), int64(99-i)))
	}
	for i := range 10 { // map order differs between runs; repeat to catch it
		if x, y := a.Snapshot(), b.Snapshot(); !bytes.Equal(x, y) {
			t.Fatalf("attempt %d: equal states, different snapshots", i)
		}
	}
}

func TestRestoreTrimsSessions(t *testing.T) {
	big := New(Options{})
	for i, c := range []string{"d", "a", "c", "b"} {
		big.Apply(uint64(i+1), write(c, 1, "k", int64(i)))
	}
	small := New(Options{MaxSessions: 2})
	if err := small.Restore(big.Snapshot()); err != nil {
		t.Fatal(err)
	}
	// c (index 3) and b (index 4) are the newest and must remain.
	small.Apply(5, write("b", 1, "k", 9))
	small.Apply(6, write("c", 1, "k", 9))
	if v, _ := small.Get("k"); v != 3 || small.Sessions() != 2 {
		t.Fatalf("k=%d sessions=%d; want 3 (both retries deduplicated), 2", v, small.Sessions())
	}
}

func TestRestoreRejects(t *testing.T) {
	s := New(Options{})
	for i, c := range randomLog(2, 50) {
		s.Apply(uint64(i+1), c)
	}
	valid := s.Snapshot()
	check := func(name string, b []byte) {
		t.Helper()
		before := s.Snapshot()
		if err := s.Restore(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: Restore = %v, want ErrMalformed", name, err)
		}
		if !bytes.Equal(s.Snapshot(), before) {
			t.Fatalf("%s: failed Restore changed the state", name)
		}
	}
	for i := range valid {
		check(fmt.Sprintf("truncated to %d", i), valid[:i])
	}
	check("trailing byte", append(bytes.Clone(valid), 0))
	check("version 2 without its membership part", append([]byte{2}, valid[1:]...))
	check("version 3", append([]byte{3}, valid[1:]...))
	check("huge register count", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	check("huge session count", []byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	check("keys out of order", []byte{1, 5, 2, 1, 'b', 0, 1, 'a', 0, 0})
	check("duplicate key", []byte{1, 5, 2, 1, 'a', 0, 1, 'a', 0, 0})
	check("empty key", []byte{1, 5, 1, 0, 0, 0})
	check("session index above applied", []byte{1, 5, 0, 1, 1, 'c', 1, 6, 1, 2, 1})
	check("session seq 0", []byte{1, 5, 0, 1, 1, 'c', 0, 5, 1, 2, 1})
	check("session status stale", []byte{1, 5, 0, 1, 1, 'c', 1, 5, byte(StatusStaleSeq), 0, 0})
	check("ok result not present", []byte{1, 5, 0, 1, 1, 'c', 1, 5, byte(StatusOK), 2, 0})
	check("unknown flags", []byte{1, 5, 0, 1, 1, 'c', 1, 5, byte(StatusOK), 2, 3})
	check("shared session index", []byte{1, 5, 0, 2, 1, 'a', 1, 5, 1, 2, 1, 1, 'b', 1, 5, 1, 2, 1})
	check("clients out of order", []byte{1, 5, 0, 2, 1, 'b', 1, 4, 1, 2, 1, 1, 'a', 1, 5, 1, 2, 1})

	// The hand-written encodings above are one fix away from valid, so the
	// rejections test the checks, not a mistake in the bytes.
	if err := New(Options{}).Restore([]byte{1, 5, 0, 2, 1, 'a', 1, 4, 1, 2, 1, 1, 'b', 1, 5, 1, 2, 1}); err != nil {
		t.Fatalf("valid hand-written snapshot rejected: %v", err)
	}
}

func FuzzRestore(f *testing.F) {
	for seed := range uint64(3) {
		s := New(Options{MaxSessions: 8})
		for i, c := range randomLog(seed, 60) {
			s.Apply(uint64(i+1), c)
		}
		f.Add(s.Snapshot())
	}
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{2, 3, 0, 0, 1, 2, 'n', '4', 1, 'a', 1, 2, 'n', '3'})
	f.Add([]byte{1, 5, 0, 2, 1, 'a', 1, 4, 1, 2, 1, 1, 'b', 1, 5, 1, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(Options{})
		s.Apply(1, write("c", 1, "k", 1))
		before := s.Snapshot()
		if err := s.Restore(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			if !bytes.Equal(s.Snapshot(), before) {
				t.Fatal("failed Restore changed the state")
			}
			return
		}
		// The format is canonical: what restores re-snapshots to the input.
		if re := s.Snapshot(); !bytes.Equal(re, b) {
			t.Fatalf("re-snapshot differs:\n in  %x\n out %x", b, re)
		}
		// The restored store works.
		s.Apply(s.AppliedIndex()+1, write("c", 1, "k", 2))
	})
}
