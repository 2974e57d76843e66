package workload

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/server"
)

// startNode runs a one-node raftnode in the test and returns its client
// address once it leads.
func startNode(t *testing.T) string {
	t.Helper()
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	clientLn, peerLn := listen(), listen()
	s, err := server.New(server.Config{ID: "n1", Peers: map[raft.NodeID]string{"n1": peerLn.Addr().String()},
		DataDir: t.TempDir(), Tick: 5 * time.Millisecond, Heartbeat: 20 * time.Millisecond,
		ElectionTimeout: 100 * time.Millisecond, ClientListener: clientLn, PeerListener: peerLn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); s.Status().Role != "leader"; {
		if time.Now().After(deadline) {
			t.Fatal("no leader within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return clientLn.Addr().String()
}

// TestPipelinedClientAgainstNode: 32 workers sharing two connections each
// run a sequence of writes, reads and compare-and-sets on their own key,
// and every answer is the one a sequential register gives.
func TestPipelinedClientAgainstNode(t *testing.T) {
	c := NewPipelinedClient(startNode(t), 2)
	defer c.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			key := fmt.Sprintf("w%d", w)
			if r := c.Read(ctx, key); r.Outcome != OK || r.Present {
				t.Errorf("%s: first read %+v, want ok and absent", key, r)
			}
			for v := int64(1); v <= 20; v++ {
				if r := c.Write(ctx, key, v, Session{ClientID: key, Seq: uint64(v)}); r.Outcome != OK {
					t.Errorf("%s: write %d: %+v", key, v, r)
					return
				}
				if r := c.CAS(ctx, key, v, 100+v, Session{}); r.Outcome != OK {
					t.Errorf("%s: cas %d->%d: %+v", key, v, 100+v, r)
				}
				if r := c.CAS(ctx, key, v, 7, Session{}); r.Outcome != Fail || !r.Mismatch || r.Value != 100+v {
					t.Errorf("%s: cas from a stale %d: %+v, want a mismatch finding %d", key, v, r, 100+v)
				}
				if r := c.Read(ctx, key); r.Outcome != OK || !r.Present || r.Value != 100+v {
					t.Errorf("%s: read %+v, want %d", key, r, 100+v)
				}
			}
		})
	}
	wg.Wait()
}

// TestPipelinedClientLostConnection: a node that reads requests and then
// drops the connection leaves the writes in doubt (info) and the reads
// failed; the next request dials again.
func TestPipelinedClientLostConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(conn)
			req, err := http.ReadRequest(br)
			if err == nil {
				if req.Method == http.MethodGet {
					// The second connection answers a read properly.
					body := `{"key":"k","value":5,"outcome":"ok"}`
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					_, _ = br.Peek(1)
				}
			}
			conn.Close()
		}
	}()
	c := NewPipelinedClient(ln.Addr().String(), 1)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := c.Write(ctx, "k", 1, Session{}); r.Outcome != Info {
		t.Errorf("write on a dropped connection: %+v, want info", r)
	}
	if r := c.Read(ctx, "k"); r.Outcome != OK || r.Value != 5 {
		t.Errorf("read on a fresh connection: %+v, want ok 5", r)
	}
	c.Close()
	ln.Close()
	if r := c.Read(ctx, "k"); r.Outcome != Fail {
		t.Errorf("read with nothing listening: %+v, want fail", r)
	}
	if r := c.Write(ctx, "k", 2, Session{}); r.Outcome != Fail {
		t.Errorf("write that could not connect: %+v, want fail (never sent)", r)
	}
}

// TestPipelinedClientAbandonedRequest: a request given up on takes its
// connection with it, so the requests pipelined behind it are not held
// back by an answer that never comes; they end indefinite, and the next
// request gets a fresh connection.
func TestPipelinedClientAbandonedRequest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for first := true; ; first = false {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if !first { // the first connection never answers
						body := `{"key":"k","value":1,"outcome":"ok"}`
						fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
					}
				}
			}()
		}
	}()
	c := NewPipelinedClient(ln.Addr().String(), 1)
	defer c.Close()
	behind := make(chan Result, 1)
	stuck, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(50 * time.Millisecond) // queued behind the stuck write
		behind <- c.Write(context.Background(), "k", 2, Session{})
	}()
	time.AfterFunc(200*time.Millisecond, cancel)
	t0 := time.Now()
	if r := c.Write(stuck, "k", 1, Session{}); r.Outcome != Info || time.Since(t0) < 150*time.Millisecond {
		t.Errorf("abandoned write: %+v after %v, want info after 200ms", r, time.Since(t0))
	}
	select {
	case r := <-behind:
		if r.Outcome != Info {
			t.Errorf("write behind the abandoned one: %+v, want info (its connection was closed)", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write behind an abandoned one is still held back")
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if r := c.Write(ctx, "k", 1, Session{}); r.Outcome != OK {
		t.Errorf("write on a fresh connection: %+v, want ok", r)
	}
}
