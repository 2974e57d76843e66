package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/server"
)

// testCluster is n in-process servers on real loopback sockets, each
// with its own data directory.
type testCluster struct {
	t     testing.TB
	nodes []*testNode
	http  *http.Client
	// peers and logger, for nodes started later (joinNode).
	peers  map[raft.NodeID]string
	logger *slog.Logger
}

type testNode struct {
	id     raft.NodeID
	srv    *server.Server
	base   string // http://127.0.0.1:port
	cancel context.CancelFunc
	done   chan error // Run's result
}

// syncBuffer collects the servers' logs, shown only if the test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startCluster runs n servers with fast timers and waits for a leader.
func startCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	peerLns := make([]net.Listener, n)
	peers := map[raft.NodeID]string{}
	for i := range n {
		peerLns[i] = listen(t)
		peers[raft.NodeID(fmt.Sprintf("n%d", i+1))] = peerLns[i].Addr().String()
	}
	c := &testCluster{t: t, http: &http.Client{Timeout: 5 * time.Second}, peers: peers, logger: logger}
	for i := range n {
		c.startNode(raft.NodeID(fmt.Sprintf("n%d", i+1)), peers, peerLns[i], false)
	}
	t.Cleanup(func() {
		for _, tn := range c.nodes {
			tn.cancel()
		}
		for _, tn := range c.nodes {
			select {
			case err := <-tn.done:
				if err != nil {
					t.Errorf("%s: Run after shutdown: %v", tn.id, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s: Run did not return within 10s of cancel", tn.id)
			}
		}
		c.http.CloseIdleConnections()
		if t.Failed() {
			t.Logf("server logs:\n%s", logs)
		}
	})
	c.leader()
	return c
}

// startNode runs one server; join starts it with no configuration.
func (c *testCluster) startNode(id raft.NodeID, peers map[raft.NodeID]string, peerLn net.Listener, join bool) *testNode {
	t := c.t
	clientLn := listen(t)
	srv, err := server.New(server.Config{
		ID: id, Peers: peers, Join: join, DataDir: t.TempDir(),
		Tick: 5 * time.Millisecond, Heartbeat: 20 * time.Millisecond,
		ElectionTimeout: 100 * time.Millisecond, RequestTimeout: 2 * time.Second,
		Logger:         c.logger.With("node", string(id)),
		ClientListener: clientLn, PeerListener: peerLn,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{id: id, srv: srv, base: "http://" + clientLn.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- srv.Run(ctx) }()
	c.nodes = append(c.nodes, tn)
	return tn
}

// leader waits until every node agrees on one leader and returns it.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var leader raft.NodeID
		agreed := true
		for _, tn := range c.nodes {
			st := tn.srv.Status()
			if st.Leader == raft.None || (leader != raft.None && st.Leader != leader) {
				agreed = false
				break
			}
			leader = st.Leader
		}
		if agreed {
			for _, tn := range c.nodes {
				if tn.id == leader && tn.srv.Status().Role == "leader" {
					return tn
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader agreed by every node within 10s")
	return nil
}

// waitApplied waits until every node has applied index.
func (c *testCluster) waitApplied(index uint64) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, tn := range c.nodes {
		for tn.srv.Status().Applied < index {
			if time.Now().After(deadline) {
				c.t.Fatalf("%s has applied %d, not %d, after 5s", tn.id, tn.srv.Status().Applied, index)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// follower returns some node that is not the leader.
func (c *testCluster) follower() *testNode {
	c.t.Helper()
	leader := c.leader()
	for _, tn := range c.nodes {
		if tn != leader {
			return tn
		}
	}
	c.t.Fatal("single-node cluster has no follower")
	return nil
}

// answer is the body of every operation's reply.
type answer struct {
	Key     string `json:"key"`
	Value   *int64 `json:"value"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
	Leader  string `json:"leader"`
}

// reply is one HTTP exchange.
type reply struct {
	code   int
	header http.Header
	raw    []byte
	body   answer
}

// call sends a request and decodes the JSON answer, failing the test if
// the answer is not JSON.
func (c *testCluster) call(node *testNode, method, path, body string, header map[string]string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, node.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	r := reply{code: resp.StatusCode, header: resp.Header, raw: raw}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Fatalf("%s %s: Content-Type %q, want application/json; body %q", method, path, ct, raw)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		c.t.Fatalf("%s %s: answer is not JSON: %v: %q", method, path, err, raw)
	}
	return r
}

func (c *testCluster) write(node *testNode, key string, v int64, header map[string]string) reply {
	c.t.Helper()
	return c.call(node, http.MethodPut, "/v1/kv/"+key, fmt.Sprintf(`{"value":%d}`, v), header)
}

func (c *testCluster) cas(node *testNode, key string, from, to int64, header map[string]string) reply {
	c.t.Helper()
	return c.call(node, http.MethodPost, "/v1/kv/"+key+"/cas", fmt.Sprintf(`{"from":%d,"to":%d}`, from, to), header)
}

func (c *testCluster) read(node *testNode, key string) reply {
	c.t.Helper()
	return c.call(node, http.MethodGet, "/v1/kv/"+key, "", nil)
}

// expect checks an answer's status, outcome and value (nil: null).
func expect(t *testing.T, what string, r reply, code int, outcome string, value *int64) {
	t.Helper()
	if r.code != code || r.body.Outcome != outcome || !sameValue(r.body.Value, value) {
		t.Fatalf("%s: got HTTP %d outcome %q value %s (body %s); want HTTP %d outcome %q value %s",
			what, r.code, r.body.Outcome, show(r.body.Value), bytes.TrimSpace(r.raw), code, outcome, show(value))
	}
}

func sameValue(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func show(v *int64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

func val(v int64) *int64 { return &v }
