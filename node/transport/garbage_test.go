package transport

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

// rawFrame frames an arbitrary payload correctly.
func rawFrame(payload []byte) []byte {
	b := append(beginFrame(nil), payload...)
	sealFrame(b, 0)
	return b
}

func handshake(from, to raft.NodeID) []byte { return appendHandshake(nil, from, to, "") }

func msgFrame(m raft.Message) []byte { b, _ := appendMessageFrame(nil, m); return b }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// Each case writes bytes on a raw connection to n1. n1 must close the
// connection, count one bad frame, deliver what was valid before it, and
// still take messages from its real peer n2 afterwards.
func TestGarbageClosesConnection(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	hs := handshake("n2", "n1")
	good := msgFrame(app("n2", "n1", 42, "ok"))
	badCRC := msgFrame(app("n2", "n1", 43, "flipped"))
	badCRC[len(badCRC)-1] ^= 1
	oversize := make([]byte, 8)
	binary.LittleEndian.PutUint32(oversize, 1<<30)
	wrongMagic := rawFrame(append([]byte("RAFTCHK0\x01"), hs[8+9:]...))
	wrongVersion := rawFrame(append([]byte("RAFTCHK1\x02"), hs[8+9:]...))

	cases := []struct {
		name      string
		data      []byte
		delivered int // valid messages before the violation
	}{
		{"random bytes", random, 0},
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0},
		{"wrong magic", wrongMagic, 0},
		{"wrong version", wrongVersion, 0},
		{"unknown sender", handshake("n7", "n1"), 0},
		{"sender claims to be us", handshake("n1", "n1"), 0},
		{"meant for another node", handshake("n2", "n3"), 0},
		{"oversize handshake", oversize, 0},
		{"bad crc", cat(hs, good, badCRC), 1},
		{"oversize frame", cat(hs, good, oversize), 1},
		{"undecodable payload", cat(hs, rawFrame([]byte{1, 99, 0, 0})), 0},
		{"trailing garbage in payload", cat(hs, rawFrame(append(good[8:], 0))), 0},
		{"from mismatch", cat(hs, msgFrame(app("n3", "n1", 1, ""))), 0},
		{"to mismatch", cat(hs, good, msgFrame(app("n2", "n3", 1, ""))), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			trs := cluster(t, Config{MaxFrame: 1 << 20}, "n1", "n2", "n3")
			n1 := trs["n1"]
			conn, err := net.Dial("tcp", n1.Addr().String())
			must(t, err)
			defer conn.Close()
			_, _ = conn.Write(tc.data) // n1 may hang up before reading it all
			expectClosed(t, conn)
			if s := n1.Stats(); s.BadFrames != 1 {
				t.Errorf("stats %+v, want 1 bad frame", s)
			}
			for _, m := range recvN(t, n1, tc.delivered) {
				if m.From != "n2" || m.Index != 42 {
					t.Errorf("delivered %+v", m)
				}
			}
			expectQuiet(t, n1, 20*time.Millisecond)
			trs["n2"].Send([]raft.Message{app("n2", "n1", 5, "real")})
			if m := recvN(t, n1, 1)[0]; m.Index != 5 || string(m.Entries[0].Data) != "real" {
				t.Errorf("after garbage got %+v", m)
			}
		})
	}
}

// A client that connects and leaves, or never speaks, is not a bad frame
// until the handshake deadline passes; closing must not wait for it.
func TestSilentClient(t *testing.T) {
	checkGoroutines(t)
	trs := cluster(t, Config{}, "n1", "n2")
	n1 := trs["n1"]
	c, err := net.Dial("tcp", n1.Addr().String())
	must(t, err)
	c.Close()
	silent, err := net.Dial("tcp", n1.Addr().String())
	must(t, err)
	defer silent.Close()
	trs["n2"].Send([]raft.Message{app("n2", "n1", 1, "")})
	recvN(t, n1, 1)
	if s := n1.Stats(); s.BadFrames != 0 {
		t.Errorf("stats %+v", s)
	}
	start := time.Now()
	must(t, n1.Close())
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with a silent client", d)
	}
	expectClosed(t, silent)
}

// expectClosed waits for the server to close conn: a read must end with
// EOF or a reset, not a timeout.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	must(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 1024)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection still open")
		}
		return
	}
}
