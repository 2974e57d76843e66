package transport

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Three nodes send each other appends with entries, heartbeats and a
// snapshot bigger than the read chunk; every receiver must see each
// sender's messages complete, unmodified and in order.
func TestExchangeOrdered(t *testing.T) {
	checkGoroutines(t)
	ids := []raft.NodeID{"n1", "n2", "n3"}
	// A receiver slowed by a loaded machine must not cost the connection
	// (and the messages in flight) here: this test is about order.
	trs := cluster(t, Config{AckTimeout: time.Minute}, ids...)
	snap := &raft.Snapshot{
		Meta: raft.SnapshotMeta{Index: 250, Term: 2, Conf: raft.ConfState{Voters: ids}},
		Data: bytes.Repeat([]byte("snapshot"), 3<<20/8),
	}
	const perPeer = 600
	want := make(map[raft.NodeID]map[raft.NodeID][]raft.Message) // to -> from -> msgs
	for _, to := range ids {
		want[to] = make(map[raft.NodeID][]raft.Message)
	}
	for i := range perPeer {
		for _, from := range ids {
			var batch []raft.Message
			for _, to := range ids {
				if to == from {
					continue
				}
				m := app(from, to, uint64(i), "x")
				switch i % 7 {
				case 3:
					m = raft.Message{Type: raft.MsgHeartbeat, From: from, To: to, Term: 3, Commit: uint64(i), Context: []byte{byte(i)}}
				case 5:
					m.Entries = append(m.Entries, raft.Entry{Term: 3, Index: uint64(i) + 2, Type: raft.EntryNoop})
				}
				if i == 250 {
					m = raft.Message{Type: raft.MsgSnap, From: from, To: to, Term: 3, Snapshot: snap}
				}
				want[to][from] = append(want[to][from], m)
				batch = append(batch, m)
			}
			trs[from].Send(batch)
		}
	}
	for _, to := range ids {
		got := make(map[raft.NodeID][]raft.Message)
		for _, m := range recvN(t, trs[to], perPeer*(len(ids)-1)) {
			got[m.From] = append(got[m.From], m)
		}
		for from, w := range want[to] {
			if len(got[from]) != len(w) {
				t.Fatalf("%s got %d messages from %s, want %d", to, len(got[from]), from, len(w))
			}
			for i := range w {
				if !reflect.DeepEqual(got[from][i], w[i]) {
					t.Fatalf("%s: message %d from %s:\ngot  %.200v\nwant %.200v", to, i, from, got[from][i], w[i])
				}
			}
		}
	}
	for _, id := range ids {
		// Sent is counted after the flush returns, which may be after
		// the receiver has the data.
		eventually(t, "sent counted", func() bool { return trs[id].Stats().Sent == 2*perPeer })
		s := trs[id].Stats()
		if s.Dropped != 0 || s.BadFrames != 0 || s.Received != 2*perPeer || s.Dialed != 2 || s.Accepted != 2 {
			t.Errorf("%s stats %+v", id, s)
		}
	}
}

// After a peer restarts on the same address, the survivor reconnects and
// messages flow both ways again.
func TestPeerRestart(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1", "n2")
	n1, n2 := trs["n1"], trs["n2"]
	n1.Send([]raft.Message{app("n1", "n2", 1, "a")})
	recvN(t, n2, 1)

	addr := n2.Addr().String()
	must(t, n2.Close())
	// While n2 is down, Send keeps returning and messages are dropped:
	// once a dial has failed, a whole queue's backlog goes at the next
	// attempt, not one message per backoff period.
	offered := uint64(1)
	for n1.Stats().Dropped == 0 {
		offered++
		n1.Send([]raft.Message{app("n1", "n2", 100, "lost")})
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 50 {
		offered++
		n1.Send([]raft.Message{app("n1", "n2", uint64(101+i), "lost")})
	}
	done := func() bool { s := n1.Stats(); return s.Sent+s.Dropped == offered }
	for end := time.Now().Add(3 * time.Second); !done(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("backlog not dropped while n2 is down: %+v, %d offered", n1.Stats(), offered)
		}
	}

	n2b, err := New(Config{ID: "n2", Listen: addr, Peers: map[raft.NodeID]string{"n1": n1.Addr().String()}})
	must(t, err)
	must(t, n2b.Start(context.Background()))
	t.Cleanup(func() { _ = n2b.Close() })

	// Probe until the backoff expires and n1 redials.
	var first raft.Message
	deadline := time.After(10 * time.Second)
probe:
	for i := uint64(1000); ; i++ {
		offered++
		n1.Send([]raft.Message{app("n1", "n2", i, "probe")})
		select {
		case first = <-n2b.Receive():
			break probe
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no message after restart; n1 stats %+v", n1.Stats())
		}
	}
	if first.Index < 100 {
		t.Fatalf("message from before the restart arrived twice: %+v", first)
	}
	// Once connected, nothing is lost and order holds.
	var batch []raft.Message
	for i := range 200 {
		batch = append(batch, app("n1", "n2", uint64(10000+i), "after"))
	}
	n1.Send(batch)
	offered += uint64(len(batch))
	next := uint64(10000)
	for next < 10200 {
		m := recvN(t, n2b, 1)[0]
		if m.Index < 10000 {
			continue // a late probe
		}
		if m.Index != next {
			t.Fatalf("got index %d, want %d", m.Index, next)
		}
		next++
	}
	n2b.Send([]raft.Message{app("n2", "n1", 7, "back")})
	if m := recvN(t, n1, 1)[0]; m.From != "n2" || m.Index != 7 {
		t.Fatalf("n1 got %+v", m)
	}
	if s := n1.Stats(); s.Dialed != 2 || s.Accepted != 1 {
		t.Errorf("n1 stats %+v", s)
	}
	// Every message n1 was given is accounted for, including the ones
	// dropped while n2 was unreachable.
	must(t, n1.Close())
	if s := n1.Stats(); s.Sent+s.Dropped != offered {
		t.Errorf("sent %d + dropped %d != %d offered", s.Sent, s.Dropped, offered)
	}
}

// When a peer restarts while idle, its FIN tells the writer the old
// connection is gone, so the next message goes over a new one instead of
// vanishing into the dead socket.
func TestReconnectWithoutLoss(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1", "n2")
	n1, n2 := trs["n1"], trs["n2"]
	n1.Send([]raft.Message{app("n1", "n2", 1, "")})
	recvN(t, n2, 1)
	addr := n2.Addr().String()
	must(t, n2.Close())
	n2b, err := New(Config{ID: "n2", Listen: addr, Peers: map[raft.NodeID]string{"n1": n1.Addr().String()}})
	must(t, err)
	must(t, n2b.Start(context.Background()))
	t.Cleanup(func() { _ = n2b.Close() })
	time.Sleep(100 * time.Millisecond) // let the FIN arrive
	n1.Send([]raft.Message{app("n1", "n2", 2, "")})
	select {
	case m := <-n2b.Receive():
		if m.Index != 2 {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("message lost on reconnect; stats %+v", n1.Stats())
	}
}

// Send never blocks: with the peer not reading, the queue fills and the
// excess is dropped; after Close every message is accounted for.
func TestQueueFullDrops(t *testing.T) {
	checkGoroutines(t)
	// A peer that accepts but never reads, so the socket buffers fill.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer hole.Close()
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()

	tr, err := New(Config{ID: "n1", Listen: "127.0.0.1:0", QueueSize: 16,
		Peers: map[raft.NodeID]string{"n2": hole.Addr().String()}})
	must(t, err)
	must(t, tr.Start(context.Background()))
	big := app("n1", "n2", 1, string(make([]byte, 64<<10)))
	const total = 3000 // ~190 MiB offered, far beyond socket buffers
	start := time.Now()
	for range total {
		sendWithin(t, tr, big)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%d Sends took %v", total, d)
	}
	if s := tr.Stats(); s.Dropped == 0 {
		t.Errorf("no drops with a stalled peer: %+v", s)
	}
	must(t, tr.Close())
	if s := tr.Stats(); s.Sent+s.Dropped != total {
		t.Errorf("sent %d + dropped %d != %d", s.Sent, s.Dropped, total)
	}
	tr.Send([]raft.Message{big})
	if s := tr.Stats(); s.Sent+s.Dropped != total+1 {
		t.Errorf("Send after Close not counted: %+v", s)
	}
}

// sendWithin fails the test if Send blocks, rather than hanging it.
func sendWithin(t *testing.T, tr *Transport, msgs ...raft.Message) {
	t.Helper()
	done := make(chan struct{})
	go func() { tr.Send(msgs); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Send blocked")
	}
}

// Before Start the queue bound is exact, and an unknown destination is
// dropped and logged once.
func TestQueueBoundAndUnknownPeer(t *testing.T) {
	logs := &logCounter{sub: "unknown peer", n: make(chan struct{}, 100)}
	tr, err := New(Config{ID: "n1", Listen: "127.0.0.1:0", QueueSize: 4,
		Peers:  map[raft.NodeID]string{"n2": "127.0.0.1:1"},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	must(t, err)
	defer tr.Close()
	for i := range 10 {
		sendWithin(t, tr, app("n1", "n2", uint64(i), ""))
	}
	if s := tr.Stats(); s.Dropped != 6 {
		t.Errorf("dropped %d, want 6", s.Dropped)
	}
	for range 3 {
		tr.Send([]raft.Message{app("n1", "n9", 1, ""), app("n1", "n1", 1, "")})
	}
	if s := tr.Stats(); s.Dropped != 12 {
		t.Errorf("dropped %d, want 12", s.Dropped)
	}
	if n := logs.count(); n != 2 {
		t.Errorf("logged unknown peers %d times, want 2 (n9 and n1 once each)", n)
	}
}

func TestStartErrors(t *testing.T) {
	checkGoroutines(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer taken.Close()
	tr, err := New(Config{ID: "n1", Listen: taken.Addr().String()})
	must(t, err)
	if err := tr.Start(context.Background()); err == nil {
		t.Fatal("Start on a taken port succeeded")
	}
	must(t, tr.Close())

	tr, err = New(Config{ID: "n1", Listen: "127.0.0.1:0"})
	must(t, err)
	must(t, tr.Start(context.Background()))
	if tr.Addr() == nil || tr.Addr().(*net.TCPAddr).Port == 0 {
		t.Errorf("Addr %v", tr.Addr())
	}
	if err := tr.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	must(t, tr.Close())
	must(t, tr.Close())
	if err := tr.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

// Cancelling Start's context stops the transport like Close.
func TestContextCancel(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithCancel(context.Background())
	tr, err := New(Config{ID: "n1", Listen: "127.0.0.1:0", Peers: map[raft.NodeID]string{"n2": "127.0.0.1:1"}})
	must(t, err)
	must(t, tr.Start(ctx))
	addr := tr.Addr().String()
	cancel()
	eventually(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	must(t, tr.Close())
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no ID":        {Listen: ":0"},
		"no listen":    {ID: "n1"},
		"self as peer": {ID: "n1", Listen: ":0", Peers: map[raft.NodeID]string{"n1": "x:1"}},
		"empty addr":   {ID: "n1", Listen: ":0", Peers: map[raft.NodeID]string{"n2": ""}},
		"long ID":      {ID: raft.NodeID(bytes.Repeat([]byte("a"), 256)), Listen: ":0"},
		"neg frame":    {ID: "n1", Listen: ":0", MaxFrame: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
