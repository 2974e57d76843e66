package kv

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
)

func TestMembersApplyAndSnapshot(t *testing.T) {
	s := New(Options{})
	s.Apply(1, write("c", 1, "k", 7))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.ApplyMember(2, MemberAdd, "n4", "10.0.0.4:7000"))
	must(s.ApplyMember(3, MemberPromote, "n4", ""))
	must(s.ApplyMember(4, MemberAdd, "n5", "10.0.0.5:7000"))
	must(s.ApplyMember(5, MemberRemove, "n3", ""))
	must(s.ApplyMember(6, MemberRemove, "n5", ""))
	must(s.ApplyMember(6, MemberAdd, "n9", "x")) // at or below applied: ignored
	if err := s.ApplyMember(7, MemberOp(9), "n6", ""); err == nil {
		t.Fatal("unknown op accepted")
	}
	if err := s.ApplyMember(8, MemberAdd, "", "a"); err == nil {
		t.Fatal("empty ID accepted")
	}
	if s.AppliedIndex() != 8 {
		t.Fatalf("applied %d, want 8: rejected changes still use their index", s.AppliedIndex())
	}
	want := map[string]string{"n4": "10.0.0.4:7000"}
	if got := s.MemberAddrs(); !maps.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
	if got := s.RemovedIDs(); !slices.Equal(got, []string{"n3", "n5"}) || !s.Removed("n3") || s.Removed("n4") {
		t.Fatalf("removed %v", got)
	}

	snap := s.Snapshot()
	if snap[0] != snapshotVersion {
		t.Fatalf("version %d, want %d with membership", snap[0], snapshotVersion)
	}
	r := New(Options{})
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Snapshot(), snap) || !maps.Equal(r.MemberAddrs(), want) || !r.Removed("n5") {
		t.Fatal("membership lost in the snapshot round trip")
	}
	if v, _ := r.Get("k"); v != 7 {
		t.Fatalf("k = %d after restore", v)
	}
	// Restoring a snapshot without membership clears it.
	if err := r.Restore(New(Options{}).Snapshot()); err != nil || len(r.MemberAddrs()) != 0 || len(r.RemovedIDs()) != 0 {
		t.Fatalf("restore of a version 1 snapshot: err %v, members %v, removed %v", err, r.MemberAddrs(), r.RemovedIDs())
	}
}

// A snapshot written before membership existed (version 1) still loads.
func TestRestoreVersion1(t *testing.T) {
	// Applied 5, register "a"=1, no sessions: the exact bytes of format 1.
	old := []byte{1, 5, 1, 1, 'a', 2, 0}
	s := New(Options{})
	if err := s.Restore(old); err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get("a"); !ok || v != 1 || len(s.MemberAddrs()) != 0 {
		t.Fatalf("a=%d,%v members %v", v, ok, s.MemberAddrs())
	}
	if !bytes.Equal(s.Snapshot(), old) {
		t.Fatal("a state without membership must re-snapshot as version 1")
	}
}

func TestRestoreRejectsMembers(t *testing.T) {
	check := func(name string, b []byte) {
		t.Helper()
		s := New(Options{})
		if err := s.Restore(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: Restore = %v, want ErrMalformed", name, err)
		}
	}
	// applied 3, no registers, no sessions, then the membership part.
	head := []byte{2, 3, 0, 0}
	v := func(tail ...byte) []byte { return append(slices.Clone(head), tail...) }
	valid := v(1, 2, 'n', '4', 1, 'a', 1, 2, 'n', '3')
	if err := New(Options{}).Restore(valid); err != nil {
		t.Fatalf("valid hand-written snapshot rejected: %v", err)
	}
	for i := range valid {
		check(fmt.Sprintf("truncated to %d", i), valid[:i])
	}
	check("empty membership in version 2", v(0, 0))
	check("members out of order", v(2, 2, 'n', '5', 0, 2, 'n', '4', 0, 0))
	check("duplicate member", v(2, 2, 'n', '4', 0, 2, 'n', '4', 0, 0))
	check("empty member id", v(1, 0, 0, 0))
	check("removed out of order", v(0, 2, 2, 'n', '5', 2, 'n', '4'))
	check("huge member count", v(0xff, 0xff, 0xff, 0xff, 0x0f))
	check("trailing", append(slices.Clone(valid), 0))
}
