package transport

import (
	"context"
	"net"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// A node joins at run time: n1 starts knowing only n2, learns n3's
// address with SetPeer, and the two then talk both ways (n3's inbound
// handshake is refused until n1 knows it). RemovePeer stops it again.
func TestSetAndRemovePeer(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1", "n2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	n3, err := New(Config{ID: "n3", Listener: ln, Peers: map[raft.NodeID]string{"n1": trs["n1"].Addr().String()}})
	must(t, err)
	must(t, n3.Start(context.Background()))
	t.Cleanup(func() { _ = n3.Close() })

	// Before n1 knows n3, n1 cannot send to it.
	trs["n1"].Send([]raft.Message{app("n1", "n3", 1, "early")})
	if s := trs["n1"].Stats(); s.Dropped != 1 {
		t.Fatalf("message to an unknown peer: stats %+v, want 1 dropped", s)
	}
	// n3's connection to n1 is refused at the handshake.
	n3.Send([]raft.Message{app("n3", "n1", 1, "refused")})
	eventually(t, "handshake refused", func() bool { return trs["n1"].Stats().BadFrames == 1 })

	must(t, trs["n1"].SetPeer("n3", ln.Addr().String()))
	must(t, trs["n1"].SetPeer("n3", ln.Addr().String())) // idempotent
	if got := trs["n1"].Peers(); len(got) != 2 || got["n3"] != ln.Addr().String() {
		t.Fatalf("Peers() = %v", got)
	}
	trs["n1"].Send([]raft.Message{app("n1", "n3", 2, "hello")})
	if m := recvN(t, n3, 1)[0]; m.From != "n1" || string(m.Entries[0].Data) != "hello" {
		t.Fatalf("n3 got %+v", m)
	}
	// n3's writer backs off after the refusal; keep sending until one lands.
	eventually(t, "n3 reaches n1", func() bool {
		n3.Send([]raft.Message{app("n3", "n1", 3, "back")})
		select {
		case m := <-trs["n1"].Receive():
			return m.From == "n3"
		default:
			return false
		}
	})

	trs["n1"].RemovePeer("n3")
	trs["n1"].RemovePeer("n3") // idempotent
	before := trs["n1"].Stats().Dropped
	trs["n1"].Send([]raft.Message{app("n1", "n3", 4, "gone")})
	if s := trs["n1"].Stats(); s.Dropped != before+1 {
		t.Fatalf("message to a removed peer: stats %+v, want %d dropped", s, before+1)
	}
	if _, ok := trs["n1"].Peers()["n3"]; ok {
		t.Fatal("n3 still a peer after RemovePeer")
	}
}

func TestSetPeerRejects(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1", "n2")
	for _, c := range []struct {
		id   raft.NodeID
		addr string
	}{{"n1", "127.0.0.1:1"}, {"", "127.0.0.1:1"}, {"n3", ""}} {
		if err := trs["n1"].SetPeer(c.id, c.addr); err == nil {
			t.Errorf("SetPeer(%q, %q) accepted", c.id, c.addr)
		}
	}
	_ = trs["n1"].Close()
	if err := trs["n1"].SetPeer("n3", "127.0.0.1:1"); err == nil {
		t.Error("SetPeer after Close accepted")
	}
}

// Changing a peer's address redirects its traffic to the new one.
func TestSetPeerNewAddress(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1", "n2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	n2b, err := New(Config{ID: "n2", Listener: ln, Peers: map[raft.NodeID]string{"n1": trs["n1"].Addr().String()}})
	must(t, err)
	must(t, n2b.Start(context.Background()))
	t.Cleanup(func() { _ = n2b.Close() })
	must(t, trs["n1"].SetPeer("n2", ln.Addr().String()))
	trs["n1"].Send([]raft.Message{app("n1", "n2", 1, "moved")})
	if m := recvN(t, n2b, 1)[0]; string(m.Entries[0].Data) != "moved" {
		t.Fatalf("got %+v", m)
	}
}

// A peer's advertised client address is learned from its handshake; one
// binding every interface is completed with the connection's address.
func TestClientAddrFromHandshake(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1")
	for i, adv := range []string{"10.1.2.3:8001", "0.0.0.0:8002", ":8003"} {
		id := raft.NodeID("c" + string(rune('a'+i)))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		other, err := New(Config{ID: id, Listener: ln, Advertise: adv, Peers: map[raft.NodeID]string{"n1": trs["n1"].Addr().String()}})
		must(t, err)
		must(t, other.Start(context.Background()))
		t.Cleanup(func() { _ = other.Close() })
		must(t, trs["n1"].SetPeer(id, ln.Addr().String()))
		other.Send([]raft.Message{app(id, "n1", 1, "hi")})
		recvN(t, trs["n1"], 1)
		want := map[int]string{0: "10.1.2.3:8001", 1: "127.0.0.1:8002", 2: "127.0.0.1:8003"}[i]
		if got, ok := trs["n1"].ClientAddr(id); !ok || got != want {
			t.Errorf("advertised %q: learned %q %v, want %q", adv, got, ok, want)
		}
	}
	if _, ok := trs["n1"].ClientAddr("nobody"); ok {
		t.Error("client address of a peer that never connected")
	}
	if _, err := New(Config{ID: "x", Listen: ":0", Advertise: string(make([]byte, 256))}); err == nil {
		t.Error("a 256-byte Advertise accepted")
	}
}
