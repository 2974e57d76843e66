package replica

import (
	"fmt"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
)

type queue struct{ msgs *[]raft.Message }

func (q queue) Send(msgs []raft.Message) { *q.msgs = append(*q.msgs, msgs...) }

type testCluster struct {
	t        testing.TB
	async    bool
	writes   map[raft.NodeID]*queuedWriter
	ids      []raft.NodeID
	reps     map[raft.NodeID]*Replica
	disks    map[raft.NodeID]*memstore.Store
	net      []raft.Message
	cut      map[raft.NodeID]bool
	unsafe   Unsafe
	boots    uint64
	snapshot uint64
	// join marks nodes that boot with no configuration; books records
	// what each node told its transport about peers.
	join  map[raft.NodeID]bool
	books map[raft.NodeID]*fakeBook
	// delivered counts messages taken off the network.
	delivered int
}

// bothWritePaths runs a test with synchronous persistence and with a
// Writer completing in the background.
func bothWritePaths(t *testing.T, f func(t *testing.T, async bool)) {
	t.Run("sync", func(t *testing.T) { f(t, false) })
	t.Run("async", func(t *testing.T) { f(t, true) })
}

// queuedWriter holds a node's writes until the cluster completes them.
type queuedWriter struct{ queue []Write }

func (w *queuedWriter) Write(b Write) { w.queue = append(w.queue, b) }

func newTestCluster(t testing.TB, async bool, unsafe Unsafe) *testCluster {
	c := &testCluster{t: t, async: async, writes: map[raft.NodeID]*queuedWriter{}, ids: []raft.NodeID{"n1", "n2", "n3"}, reps: map[raft.NodeID]*Replica{},
		disks: map[raft.NodeID]*memstore.Store{}, cut: map[raft.NodeID]bool{}, unsafe: unsafe, snapshot: 1000,
		join: map[raft.NodeID]bool{}, books: map[raft.NodeID]*fakeBook{}}
	for _, id := range c.ids {
		c.disks[id] = &memstore.Store{}
		c.boot(id)
	}
	return c
}

func (c *testCluster) boot(id raft.NodeID) {
	d := c.disks[id]
	hs, snap, ents := d.Durable()
	c.boots++
	var w Writer
	if c.async {
		c.writes[id] = &queuedWriter{}
		w = c.writes[id]
	}
	r, err := New(Config{Writer: w,
		Raft: raft.Config{ID: id, Peers: c.ids, ElectionTick: 10, HeartbeatTick: 1,
			HardState: hs, Snapshot: snap, Entries: ents, Join: c.join[id]},
		Storage: d, Sender: bookSender{queue{&c.net}, c.book(id)}, RequestIDBase: c.boots << 32,
		SnapshotEvery: c.snapshot, Unsafe: c.unsafe,
	})
	if err != nil {
		c.t.Fatalf("boot %s: %v", id, err)
	}
	c.reps[id] = r
}

func (c *testCluster) crash(id raft.NodeID) {
	delete(c.writes, id)
	c.disks[id].Crash()
	delete(c.reps, id)
}

func (c *testCluster) process(id raft.NodeID) {
	if r := c.reps[id]; r != nil {
		if err := r.Process(); err != nil {
			c.t.Fatalf("%s: %v", id, err)
		}
	}
}

func (c *testCluster) syncs() uint64 {
	var n uint64
	for _, d := range c.disks {
		n += d.Syncs()
	}
	return n
}

// complete carries out every queued write of id and reports it durable.
func (c *testCluster) complete(id raft.NodeID) bool {
	w := c.writes[id]
	if w == nil || len(w.queue) == 0 {
		return false
	}
	d := c.disks[id]
	sync := false
	for _, b := range w.queue {
		sync = sync || b.Sync
		if !b.Snapshot.IsEmpty() {
			if err := d.SaveSnapshot(b.Snapshot); err != nil {
				c.t.Fatal(err)
			}
		}
		if err := d.Append(b.HardState, b.Entries); err != nil {
			c.t.Fatal(err)
		}
	}
	if sync {
		if err := d.Sync(); err != nil {
			c.t.Fatal(err)
		}
	}
	last := w.queue[len(w.queue)-1].Seq
	for _, b := range w.queue {
		c.net = append(c.net, b.Messages...)
	}
	w.queue = nil
	if err := c.reps[id].Durable(last); err != nil {
		c.t.Fatal(err)
	}
	c.process(id)
	return true
}

// flush delivers messages, and completes writes whenever the network is
// quiet, until nothing is left.
func (c *testCluster) flush() {
	for i := 0; ; i++ {
		if len(c.net) == 0 {
			done := false
			for _, id := range c.ids {
				done = c.complete(id) || done
			}
			if !done {
				return
			}
			continue
		}
		if i > 100000 {
			c.t.Fatal("network does not settle")
		}
		m := c.net[0]
		c.net = c.net[1:]
		c.delivered++
		if r := c.reps[m.To]; r != nil && !c.cut[m.To] && !c.cut[m.From] {
			r.Step(m)
			c.process(m.To)
		}
	}
}

func (c *testCluster) tick(n int) {
	for range n {
		for _, id := range c.ids {
			if r := c.reps[id]; r != nil {
				r.Tick()
				c.process(id)
			}
		}
		c.flush()
	}
}

func (c *testCluster) leader() raft.NodeID {
	for _, id := range c.ids {
		if r := c.reps[id]; r != nil && !c.cut[id] && r.Status().Role == "leader" {
			return id
		}
	}
	return raft.None
}

// do submits a request at a node and runs the cluster until it answers.
func (c *testCluster) do(at raft.NodeID, req Request) Response {
	var got *Response
	c.reps[at].Submit(req, func(r Response) { got = &r })
	c.process(at)
	for i := 0; got == nil && i < 200; i++ {
		c.flush()
		c.tick(1)
	}
	if got == nil {
		c.t.Fatalf("no answer to %+v at %s", req, at)
	}
	return *got
}

func (c *testCluster) settle() raft.NodeID {
	c.tick(60)
	l := c.leader()
	if l == raft.None {
		c.t.Fatal("no leader")
	}
	return l
}

func follower(c *testCluster, l raft.NodeID) raft.NodeID {
	for _, id := range c.ids {
		if id != l && c.reps[id] != nil {
			return id
		}
	}
	return raft.None
}

func TestWriteReadCAS(t *testing.T) { bothWritePaths(t, testWriteReadCAS) }

func testWriteReadCAS(t *testing.T, async bool) {
	c := newTestCluster(t, async, Unsafe{})
	l := c.settle()
	f := follower(c, l)
	if r := c.do(f, Request{Op: OpRead, Key: "k"}); r.Outcome != OK || r.Present {
		t.Fatalf("read of unwritten key: %+v", r)
	}
	if r := c.do(f, Request{Op: OpWrite, Key: "k", Value: 5}); r.Outcome != OK || r.Value != 5 {
		t.Fatalf("write via follower: %+v", r)
	}
	if r := c.do(l, Request{Op: OpCAS, Key: "k", From: 4, To: 6}); r.Outcome != Fail || !r.CASMismatch || r.Value != 5 {
		t.Fatalf("cas with wrong from: %+v", r)
	}
	if r := c.do(f, Request{Op: OpCAS, Key: "k", From: 5, To: 6}); r.Outcome != OK || r.Value != 6 {
		t.Fatalf("cas: %+v", r)
	}
	for _, id := range c.ids {
		if r := c.do(id, Request{Op: OpRead, Key: "k"}); r.Outcome != OK || r.Value != 6 || !r.Present {
			t.Fatalf("read at %s: %+v", id, r)
		}
	}
	if r := c.do(f, Request{Op: OpWrite, Key: ""}); r.Outcome != Fail {
		t.Fatalf("empty key accepted: %+v", r)
	}
}

// A retried cas with the same (client, seq) takes effect once; with
// no-dedup it takes effect twice.
func TestExactlyOnce(t *testing.T) { bothWritePaths(t, testExactlyOnce) }

func testExactlyOnce(t *testing.T, async bool) {
	for _, noDedup := range []bool{false, true} {
		c := newTestCluster(t, async, Unsafe{NoDedup: noDedup})
		l := c.settle()
		c.do(l, Request{Op: OpWrite, Key: "k", Value: 1})
		inc := Request{Op: OpCAS, Key: "k", From: 1, To: 2, ClientID: "c1", Seq: 1}
		c.do(l, inc)
		c.do(l, Request{Op: OpWrite, Key: "k", Value: 1, ClientID: "c2", Seq: 1})
		retry := c.do(l, inc) // the retry of a request that already applied
		v, _ := c.reps[l].Get("k")
		switch {
		case !noDedup && (retry.Outcome != OK || v != 1):
			t.Errorf("dedup: retry %+v, value %d; want ok and value 1", retry, v)
		case noDedup && v != 2:
			t.Errorf("no-dedup: value %d, want the retry applied again (2)", v)
		}
	}
}

// Reads are linearizable: a node cut off from the majority does not serve
// a read; with stale-reads it serves the old value.
func TestStaleReads(t *testing.T) { bothWritePaths(t, testStaleReads) }

func testStaleReads(t *testing.T, async bool) {
	for _, stale := range []bool{false, true} {
		c := newTestCluster(t, async, Unsafe{StaleReads: stale})
		l := c.settle()
		c.do(l, Request{Op: OpWrite, Key: "k", Value: 1})
		c.tick(3)
		c.cut[l] = true
		var other raft.NodeID
		c.tick(60)
		for _, id := range c.ids {
			if id != l && c.reps[id].Status().Role == "leader" {
				other = id
			}
		}
		if other == raft.None {
			t.Fatal("no new leader")
		}
		c.do(other, Request{Op: OpWrite, Key: "k", Value: 2})
		r := c.do(l, Request{Op: OpRead, Key: "k"})
		switch {
		case !stale && r.Outcome == OK:
			t.Errorf("cut-off node served a read: %+v", r)
		case stale && (r.Outcome != OK || r.Value != 1):
			t.Errorf("stale-reads: want the stale value 1, got %+v", r)
		}
	}
}

// A node restarted from its disk keeps every acknowledged write; with
// ack-before-persist or no-fsync a crash of the whole cluster right after
// the acknowledgement loses it.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	bothWritePaths(t, testCrashKeepsAcknowledgedWrites)
}

func testCrashKeepsAcknowledgedWrites(t *testing.T, async bool) {
	for _, tc := range []struct {
		name   string
		unsafe Unsafe
	}{
		{"safe", Unsafe{}},
		{"ack-before-persist", Unsafe{AckBeforePersist: true}},
		{"no-fsync", Unsafe{NoFsync: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCluster(t, async, tc.unsafe)
			l := c.settle()
			if r := c.do(l, Request{Op: OpWrite, Key: "k", Value: 7}); r.Outcome != OK {
				t.Fatalf("write: %+v", r)
			}
			for _, id := range c.ids {
				c.crash(id)
			}
			for _, id := range c.ids {
				c.boot(id)
			}
			l = c.settle()
			r := c.do(l, Request{Op: OpRead, Key: "k"})
			unsafe := tc.unsafe != Unsafe{}
			switch {
			case !unsafe && (r.Outcome != OK || r.Value != 7):
				t.Errorf("acknowledged write lost across a crash: %+v", r)
			case unsafe && r.Outcome == OK && r.Value == 7:
				t.Errorf("%s: expected the write to be lost, read %+v", tc.name, r)
			}
		})
	}
}

// no-fsync appends everything and syncs nothing: the disk holds the
// writes until a crash, which leaves nothing.
func TestNoFsyncNeverSyncs(t *testing.T) { bothWritePaths(t, testNoFsyncNeverSyncs) }

func testNoFsyncNeverSyncs(t *testing.T, async bool) {
	c := newTestCluster(t, async, Unsafe{NoFsync: true})
	l := c.settle()
	c.do(l, Request{Op: OpWrite, Key: "k", Value: 7})
	for _, id := range c.ids {
		d := c.disks[id]
		if d.Syncs() != 0 {
			t.Errorf("%s: %d syncs, want 0", id, d.Syncs())
		}
		if _, _, ents := d.Durable(); len(ents) != 0 {
			t.Errorf("%s: %d durable entries, want none", id, len(ents))
		}
	}
}

// forget-vote writes hard state without the vote.
func TestForgetVote(t *testing.T) { bothWritePaths(t, testForgetVote) }

func testForgetVote(t *testing.T, async bool) {
	for _, unsafe := range []bool{false, true} {
		c := newTestCluster(t, async, Unsafe{ForgetVote: unsafe})
		c.settle()
		voted := 0
		for _, id := range c.ids {
			if hs, _, _ := c.disks[id].Durable(); hs.Vote != raft.None {
				voted++
			}
		}
		if unsafe != (voted == 0) {
			t.Errorf("forget-vote=%v: %d nodes have a durable vote", unsafe, voted)
		}
	}
}

// A node that was down while the others compacted catches up through a
// snapshot and serves the same state.
func TestSnapshotCatchUp(t *testing.T) { bothWritePaths(t, testSnapshotCatchUp) }

func testSnapshotCatchUp(t *testing.T, async bool) {
	c := newTestCluster(t, async, Unsafe{})
	c.snapshot = 20
	for _, id := range c.ids {
		c.boot(id)
	}
	l := c.settle()
	f := follower(c, l)
	c.crash(f)
	for i := range 50 {
		c.do(l, Request{Op: OpWrite, Key: fmt.Sprint("k", i%5), Value: int64(i)})
	}
	if s := c.reps[l].Status(); s.SnapshotIndex == 0 {
		t.Fatalf("leader did not compact: %+v", s)
	}
	c.boot(f)
	c.tick(30)
	if st := c.reps[f].Stats(); st.Restores == 0 {
		t.Fatal("follower caught up without a snapshot")
	}
	for i := range 5 {
		want, _ := c.reps[l].Get(fmt.Sprint("k", i))
		if got, _ := c.reps[f].Get(fmt.Sprint("k", i)); got != want {
			t.Errorf("k%d: follower %d leader %d", i, got, want)
		}
	}
}

// Persist before you speak, with a background Writer: a follower's
// acknowledgement waits for its write, and the leader's own copy counts
// toward commit only once its write is durable, though its appends leave
// before it.
func TestAsyncWritesHoldAcknowledgements(t *testing.T) {
	c := newTestCluster(t, true, Unsafe{})
	l := c.settle()
	commit := c.reps[l].Status().Commit
	var got *Response
	c.reps[l].Submit(Request{Op: OpWrite, Key: "k", Value: 1}, func(r Response) { got = &r })
	c.process(l)
	if len(c.net) != 2 || c.net[0].Type != raft.MsgApp {
		t.Fatalf("leader sent %v before its write completed, want one append per follower", c.net)
	}
	// Deliver the appends; the followers write but do not answer.
	for len(c.net) > 0 {
		m := c.net[0]
		c.net = c.net[1:]
		c.reps[m.To].Step(m)
		c.process(m.To)
	}
	if len(c.net) != 0 {
		t.Fatalf("a follower answered before its write was durable: %v", c.net)
	}
	// One follower's copy and the leader's make a quorum of three: only
	// once both are durable may the entry commit.
	c.complete(follower(c, l))
	for len(c.net) > 0 {
		m := c.net[0]
		c.net = c.net[1:]
		if m.Type != raft.MsgAppResp || m.To != l {
			t.Fatalf("unexpected %v", m)
		}
		c.reps[l].Step(m)
		c.process(l)
	}
	if st := c.reps[l].Status(); st.Commit != commit {
		t.Fatalf("leader committed %d before its own write was durable", st.Commit)
	}
	if got != nil {
		t.Fatalf("answered before commit: %+v", *got)
	}
	c.complete(l)
	if st := c.reps[l].Status(); st.Commit != commit+1 || got == nil || got.Outcome != OK {
		t.Fatalf("after the leader's write: commit %d (was %d), answer %v", st.Commit, commit, got)
	}
	if err := c.reps[l].Durable(1 << 40); err == nil {
		t.Fatal("Durable beyond the writes issued was accepted")
	}
}
