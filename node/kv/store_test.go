package kv

import (
	"fmt"
	"testing"
)

func write(client string, seq uint64, key string, v int64) Command {
	return Command{ClientID: client, Seq: seq, Op: OpWrite, Key: key, Value: v}
}

func cas(client string, seq uint64, key string, from, to int64) Command {
	return Command{ClientID: client, Seq: seq, Op: OpCAS, Key: key, From: from, To: to}
}

// applier applies commands at consecutive indices.
type applier struct {
	t *testing.T
	s *Store
}

func newApplier(t *testing.T, opts Options) *applier { return &applier{t: t, s: New(opts)} }

func (a *applier) apply(c Command) Result {
	a.t.Helper()
	return a.s.Apply(a.s.AppliedIndex()+1, c)
}

func (a *applier) expect(c Command, want Result) {
	a.t.Helper()
	if got := a.apply(c); got != want {
		a.t.Fatalf("Apply(%+v) = %+v, want %+v", c, got, want)
	}
}

func (a *applier) expectValue(key string, want int64, present bool) {
	a.t.Helper()
	if v, ok := a.s.Get(key); v != want || ok != present {
		a.t.Fatalf("Get(%q) = %d, %v; want %d, %v", key, v, ok, want, present)
	}
}

func TestWriteReadCAS(t *testing.T) {
	a := newApplier(t, Options{})
	a.expectValue("x", 0, false)
	a.expect(cas("", 0, "x", 0, 1), Result{Status: StatusCASMismatch, Value: 0, Present: false})
	a.expectValue("x", 0, false) // cas from 0 must not treat unset as 0
	a.expect(write("", 0, "x", 5), Result{Status: StatusOK, Value: 5, Present: true})
	a.expectValue("x", 5, true)
	a.expect(cas("", 0, "x", 4, 9), Result{Status: StatusCASMismatch, Value: 5, Present: true})
	a.expectValue("x", 5, true)
	a.expect(cas("", 0, "x", 5, -7), Result{Status: StatusOK, Value: -7, Present: true})
	a.expectValue("x", -7, true)
	a.expect(write("", 0, "y", 0), Result{Status: StatusOK, Value: 0, Present: true})
	a.expect(cas("", 0, "y", 0, 3), Result{Status: StatusOK, Value: 3, Present: true})
	if a.s.Len() != 2 || a.s.AppliedIndex() != 6 {
		t.Fatalf("Len = %d, AppliedIndex = %d; want 2, 6", a.s.Len(), a.s.AppliedIndex())
	}
}

func TestApplyIndexAndInvalid(t *testing.T) {
	s := New(Options{})
	if r := s.Apply(3, write("c", 1, "k", 1)); r.Status != StatusOK {
		t.Fatalf("apply at 3: %+v", r)
	}
	// An index already covered is skipped, not applied again.
	for _, idx := range []uint64{0, 2, 3} {
		if r := s.Apply(idx, write("d", 1, "k", 2)); r != (Result{Status: StatusSkipped}) {
			t.Fatalf("apply at %d: %+v, want skipped", idx, r)
		}
	}
	if v, _ := s.Get("k"); v != 1 || s.AppliedIndex() != 3 {
		t.Fatalf("after skipped applies: k=%d applied=%d", v, s.AppliedIndex())
	}
	// Invalid commands consume their index and change nothing else.
	for i, c := range []Command{
		{Op: 9, Key: "k"},
		{Op: OpWrite, Key: ""},
		{Op: OpWrite, Key: "k", ClientID: "c"}, // seq 0
		{Op: OpWrite, Key: "k", Seq: 4},        // seq without client
		write("c", 2, string(make([]byte, MaxKeyLen+1)), 1),
	} {
		idx := uint64(10 + i)
		if r := s.Apply(idx, c); r != (Result{Status: StatusInvalid}) {
			t.Fatalf("Apply(%+v) = %+v, want invalid", c, r)
		}
		if s.AppliedIndex() != idx || s.Len() != 1 || s.Sessions() != 1 {
			t.Fatalf("invalid command changed state: applied=%d len=%d sessions=%d", s.AppliedIndex(), s.Len(), s.Sessions())
		}
	}
}

// TestDuplicateWrite: a retried write must not overwrite a later write.
func TestDuplicateWrite(t *testing.T) {
	for _, noDedup := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoDedup=%v", noDedup), func(t *testing.T) {
			a := newApplier(t, Options{NoDedup: noDedup})
			first := a.apply(write("a", 1, "k", 5))
			a.apply(write("b", 1, "k", 7))
			retry := a.apply(write("a", 1, "k", 5))
			if noDedup {
				if retry.Duplicate || retry != first {
					t.Fatalf("retry = %+v, want re-applied %+v", retry, first)
				}
				a.expectValue("k", 5, true) // the unsafe mode loses b's write
				return
			}
			want := first
			want.Duplicate = true
			if retry != want {
				t.Fatalf("retry = %+v, want %+v", retry, want)
			}
			a.expectValue("k", 7, true)
		})
	}
}

// TestDuplicateCAS: cas 1→2, then another client's cas 2→3, then a retry of
// the 1→2 cas. With sessions the retry answers ok from the cache; without,
// it is executed again and reports a mismatch for a cas that did happen.
// A later write back to 1 shows the retry would otherwise re-apply.
func TestDuplicateCAS(t *testing.T) {
	a := newApplier(t, Options{})
	a.expect(write("w", 1, "k", 1), Result{Status: StatusOK, Value: 1, Present: true})
	a.expect(cas("a", 1, "k", 1, 2), Result{Status: StatusOK, Value: 2, Present: true})
	a.expect(cas("b", 1, "k", 2, 3), Result{Status: StatusOK, Value: 3, Present: true})
	a.expect(cas("a", 1, "k", 1, 2), Result{Status: StatusOK, Value: 2, Present: true, Duplicate: true})
	a.expectValue("k", 3, true)
	a.expect(write("w", 2, "k", 1), Result{Status: StatusOK, Value: 1, Present: true})
	a.expect(cas("a", 1, "k", 1, 2), Result{Status: StatusOK, Value: 2, Present: true, Duplicate: true})
	a.expectValue("k", 1, true)

	// A cached mismatch is replayed as a mismatch, even if it would now apply.
	a.expect(cas("m", 1, "k", 9, 10), Result{Status: StatusCASMismatch, Value: 1, Present: true})
	a.expect(write("w", 3, "k", 9), Result{Status: StatusOK, Value: 9, Present: true})
	a.expect(cas("m", 1, "k", 9, 10), Result{Status: StatusCASMismatch, Value: 1, Present: true, Duplicate: true})
	a.expectValue("k", 9, true)
}

func TestNoDedupCAS(t *testing.T) {
	a := newApplier(t, Options{NoDedup: true})
	a.apply(write("w", 1, "k", 1))
	a.expect(cas("a", 1, "k", 1, 2), Result{Status: StatusOK, Value: 2, Present: true})
	a.expect(cas("b", 1, "k", 2, 3), Result{Status: StatusOK, Value: 3, Present: true})
	a.expect(cas("a", 1, "k", 1, 2), Result{Status: StatusCASMismatch, Value: 3, Present: true})
	a.apply(write("w", 2, "k", 1))
	a.expect(cas("a", 1, "k", 1, 2), Result{Status: StatusOK, Value: 2, Present: true})
	if a.s.Sessions() != 0 {
		t.Fatalf("NoDedup kept %d sessions", a.s.Sessions())
	}
}

func TestStaleSeq(t *testing.T) {
	a := newApplier(t, Options{})
	a.apply(write("a", 1, "k", 1))
	a.apply(write("a", 3, "k", 3)) // seqs may skip
	a.expect(write("a", 2, "k", 2), Result{Status: StatusStaleSeq})
	a.expect(write("a", 1, "k", 1), Result{Status: StatusStaleSeq})
	a.expectValue("k", 3, true)
	a.expect(write("a", 3, "k", 3), Result{Status: StatusOK, Value: 3, Present: true, Duplicate: true})
	a.expect(write("a", 4, "k", 4), Result{Status: StatusOK, Value: 4, Present: true})
	// Sessionless commands are never deduplicated.
	a.expect(write("", 0, "k", 4), Result{Status: StatusOK, Value: 4, Present: true})
}

func TestSessionEviction(t *testing.T) {
	run := func() *applier {
		a := newApplier(t, Options{MaxSessions: 2})
		a.apply(write("a", 1, "ka", 1))
		a.apply(write("b", 1, "kb", 1))
		a.apply(write("a", 2, "ka", 2)) // a is now newer than b
		a.apply(write("a", 2, "ka", 2)) // a duplicate does not refresh the session
		a.apply(write("c", 1, "kc", 1)) // evicts b, the least recently applied
		return a
	}
	a := run()
	if a.s.Sessions() != 2 {
		t.Fatalf("Sessions = %d, want 2", a.s.Sessions())
	}
	// a survived: its retry is a duplicate.
	a.expect(write("a", 2, "ka", 2), Result{Status: StatusOK, Value: 2, Present: true, Duplicate: true})
	// b was evicted: its retry is applied again, and it evicts a (index 3),
	// older than c (index 5).
	a.apply(write("", 0, "kb", 9)) // sessionless: no eviction
	a.expect(write("b", 1, "kb", 1), Result{Status: StatusOK, Value: 1, Present: true})
	a.expect(write("c", 1, "kc", 1), Result{Status: StatusOK, Value: 1, Present: true, Duplicate: true})
	a.expect(write("a", 2, "ka", 2), Result{Status: StatusOK, Value: 2, Present: true})

	// The same log gives the same sessions.
	if x, y := run().s.Snapshot(), run().s.Snapshot(); string(x) != string(y) {
		t.Fatal("equal logs gave different snapshots")
	}
}

func BenchmarkApply(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
		cmd  func(i int) Command
	}{
		{"write/sessionless", Options{}, func(i int) Command { return write("", 0, keys[i%len(keys)], int64(i)) }},
		{"write/session", Options{}, func(i int) Command {
			return write(clients[i%len(clients)], uint64(i/len(clients)+1), keys[i%len(keys)], int64(i))
		}},
		{"cas/session-evicting", Options{MaxSessions: 64}, func(i int) Command {
			return cas(clients[i%len(clients)], uint64(i/len(clients)+1), keys[i%len(keys)], int64(i-1), int64(i))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := New(bc.opts)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Apply(uint64(i+1), bc.cmd(i))
				i++
			}
		})
	}
}

var keys, clients = names("key", 1000), names("client", 1024)

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
