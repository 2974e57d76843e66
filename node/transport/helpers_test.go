package transport

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

// checkGoroutines fails the test if, once every later cleanup (the
// transports' Close) has run, more goroutines exist than when it was
// called. Call it first so its cleanup runs last.
func checkGoroutines(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after Close\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// cluster starts one transport per ID on 127.0.0.1 ":0" ports, all knowing
// each other, with cfg as the template. They are closed at cleanup.
func cluster(t testing.TB, cfg Config, ids ...raft.NodeID) map[raft.NodeID]*Transport {
	t.Helper()
	lns := make(map[raft.NodeID]net.Listener)
	addrs := make(map[raft.NodeID]string)
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], addrs[id] = ln, ln.Addr().String()
	}
	trs := make(map[raft.NodeID]*Transport)
	for _, id := range ids {
		c := cfg
		c.ID, c.Listener = id, lns[id]
		c.Peers = peersOf(id, addrs)
		tr, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		trs[id] = tr
	}
	return trs
}

func peersOf(self raft.NodeID, addrs map[raft.NodeID]string) map[raft.NodeID]string {
	p := make(map[raft.NodeID]string)
	for id, a := range addrs {
		if id != self {
			p[id] = a
		}
	}
	return p
}

// recvN waits for n messages on tr.
func recvN(t testing.TB, tr *Transport, n int) []raft.Message {
	t.Helper()
	out := make([]raft.Message, 0, n)
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case m := <-tr.Receive():
			out = append(out, m)
		case <-timeout:
			t.Fatalf("received %d of %d messages; stats %+v", len(out), n, tr.Stats())
		}
	}
	return out
}

// expectQuiet fails if tr delivers anything within d.
func expectQuiet(t testing.TB, tr *Transport, d time.Duration) {
	t.Helper()
	select {
	case m := <-tr.Receive():
		t.Fatalf("unexpected message %+v", m)
	case <-time.After(d):
	}
}

func app(from, to raft.NodeID, index uint64, data string) raft.Message {
	return raft.Message{
		Type: raft.MsgApp, From: from, To: to, Term: 3, LogTerm: 3, Index: index, Commit: index,
		Entries: []raft.Entry{{Term: 3, Index: index + 1, Data: []byte(data)}},
	}
}

// logCounter is an io.Writer for a slog handler that counts the records
// containing sub.
type logCounter struct {
	sub string
	n   chan struct{}
}

func (c *logCounter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.sub) {
		c.n <- struct{}{}
	}
	return len(p), nil
}

func (c *logCounter) count() int { return len(c.n) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
