package main

// End-to-end tests: three real raftnode processes on loopback, real
// fsync, real SIGKILL. The binary is built once in TestMain.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/internal/proccluster"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/workload"
)

// raftnodeBin is the binary under test, built by TestMain.
var raftnodeBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "raftnode-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	raftnodeBin = filepath.Join(dir, "raftnode")
	build := exec.Command("go", "build", "-o", raftnodeBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Fast timers keep each test to a few seconds.
var fastArgs = []string{"--heartbeat", "50ms", "--election-timeout", "300ms", "--request-timeout", "1s"}

// startCluster runs three nodes and waits for a leader. Extra flags go to
// every node. The cluster is killed when the test ends, and its logs are
// shown if the test failed.
func startCluster(t *testing.T, extra ...string) *proccluster.Cluster {
	t.Helper()
	dir := t.TempDir()
	c, err := proccluster.Start(proccluster.Config{Binary: raftnodeBin, Nodes: 3, Dir: dir,
		Args: append(append([]string{}, fastArgs...), extra...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for i, n := range c.Nodes {
				t.Logf("log of %s:\n%s", n.ID, lastLines(c.Log(i), 80))
			}
		}
	})
	leaderOf(t, c)
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// leaderOf waits up to 10 s for a leader agreed by a majority.
func leaderOf(t *testing.T, c *proccluster.Cluster) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	i, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// others returns the indices of the nodes other than skip.
func others(c *proccluster.Cluster, skip ...int) []int {
	var out []int
	for i := range c.Nodes {
		if !slices.Contains(skip, i) {
			out = append(out, i)
		}
	}
	return out
}

// testCtx bounds a stretch of a test; it ends with the test.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// opTimeout bounds one client operation in a healthy cluster.
const opTimeout = 3 * time.Second

// mustWrite writes key=v through node i and fails the test unless ok.
func mustWrite(t *testing.T, c *proccluster.Cluster, i int, key string, v int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	if r := c.Nodes[i].Client.Write(ctx, key, v, workload.Session{}); r.Outcome != workload.OK {
		t.Fatalf("write %s=%d through %s: %s: %v", key, v, c.Nodes[i].ID, r.Outcome, r.Err)
	}
}

// mustRead reads key at node i (a linearizable read) and fails the test
// unless it is ok and sees want.
func mustRead(t *testing.T, c *proccluster.Cluster, i int, key string, want int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	r := c.Nodes[i].Client.Read(ctx, key)
	if r.Outcome != workload.OK || !r.Present || r.Value != want {
		t.Fatalf("read %s at %s: %s present=%v value=%d (%v); want ok %d",
			key, c.Nodes[i].ID, r.Outcome, r.Present, r.Value, r.Err, want)
	}
}

// TestWritesThroughFollowers: a write sent to a follower is forwarded,
// acknowledged, and read back from every node.
func TestWritesThroughFollowers(t *testing.T) {
	c := startCluster(t)
	leader := leaderOf(t, c)
	want := map[string]int64{}
	for _, f := range others(c, leader) {
		for j := range 5 {
			key := fmt.Sprintf("via-%s-%d", c.Nodes[f].ID, j)
			mustWrite(t, c, f, key, int64(100*f+j))
			want[key] = int64(100*f + j)
		}
	}
	for i := range c.Nodes {
		for key, v := range want {
			mustRead(t, c, i, key, v)
		}
	}
}

// TestFailoverIsLive: after kill -9 of the leader a survivor acknowledges
// a write, and nothing acknowledged before is lost. The bound is a
// liveness bound (20 election timeouts), not a speed target: how fast
// failover is, `make bench` measures (its failover row).
func TestFailoverIsLive(t *testing.T) {
	c := startCluster(t)
	leader := leaderOf(t, c)
	mustWrite(t, c, leader, "before", 1)

	if err := c.Kill(leader); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	node, _, err := c.ProbeWrite(ctx, others(c, leader), "failover", 10*time.Millisecond, 500*time.Millisecond)
	elapsed := time.Since(killed)
	if err != nil {
		t.Fatalf("no write acknowledged %v after killing the leader: %v", elapsed, err)
	}
	t.Logf("killed leader %s; first acknowledged write through %s after %v",
		c.Nodes[leader].ID, c.Nodes[node].ID, elapsed.Round(time.Millisecond))
	mustRead(t, c, node, "before", 1)
}

// TestRestartCatchesUpThroughSnapshot: a killed node that missed more
// than the log the leader keeps is brought up to date with a snapshot,
// then serves the latest values.
func TestRestartCatchesUpThroughSnapshot(t *testing.T) {
	c := startCluster(t, "--snapshot-every", "50")
	down := leaderOf(t, c)
	mustWrite(t, c, down, "k0", -1)
	if err := c.Kill(down); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, _, err := c.ProbeWrite(ctx, others(c, down), "probe", 10*time.Millisecond, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	leader := leaderOf(t, c)

	// 250 writes over 25 keys from 5 clients, while the node is down.
	const keys, rounds, clients = 25, 10, 5
	want := map[string]int64{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for w := range clients {
		wg.Go(func() {
			for r := range rounds {
				for k := w; k < keys; k += clients {
					key, v := fmt.Sprintf("k%d", k), int64(1000*r+k)
					res := c.Nodes[leader].Client.Write(ctx, key, v, workload.Session{})
					mu.Lock()
					if res.Outcome == workload.OK {
						want[key] = v
					} else {
						errs = append(errs, fmt.Errorf("write %s=%d: %s: %w", key, v, res.Outcome, res.Err))
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d writes not acknowledged by a stable leader, first: %v", len(errs), errs[0])
	}
	lst, err := c.Status(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if lst.SnapshotIndex < 200 {
		t.Fatalf("leader %s snapshot index %d after 250 writes with --snapshot-every 50; want >= 200",
			c.Nodes[leader].ID, lst.SnapshotIndex)
	}

	if err := c.StartNode(down); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitApplied(ctx, down, lst.Commit); err != nil {
		t.Fatal(err)
	}
	restores, err := c.Metric(ctx, down, "raftnode_snapshot_restores_total")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx, down)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s caught up to %d: snapshot restores %v, snapshot index %d", c.Nodes[down].ID, st.Applied, restores, st.SnapshotIndex)
	if restores < 1 || st.SnapshotIndex < 200 {
		t.Errorf("%s caught up without a snapshot from the leader: restores %v, snapshot index %d",
			c.Nodes[down].ID, restores, st.SnapshotIndex)
	}
	for key, v := range want {
		mustRead(t, c, down, key, v)
	}
}

// TestNoAcknowledgedWriteLost: writers run while the leader is killed
// and restarted twice; as they stop, every node is killed at once and
// restarted. Afterwards every key holds its last acknowledged value or a
// value written later whose outcome was unknown.
func TestNoAcknowledgedWriteLost(t *testing.T) {
	t.Run("net-http", func(t *testing.T) {
		noAcknowledgedWriteLost(t, func(n *proccluster.Node) workload.Client { return n.Client })
	})
	// The writers share two pipelined connections per node: a connection
	// lost to a kill takes every write in flight on it, which must then be
	// unknown, never lost once acknowledged.
	t.Run("pipelined", func(t *testing.T) {
		noAcknowledgedWriteLost(t, func(n *proccluster.Node) workload.Client {
			pc := workload.NewPipelinedClient(n.ClientAddr, 2)
			t.Cleanup(pc.Close)
			return pc
		})
	})
}

func noAcknowledgedWriteLost(t *testing.T, client func(*proccluster.Node) workload.Client) {
	c := startCluster(t, "--snapshot-every", "100")
	var clients []workload.Client
	for _, n := range c.Nodes {
		clients = append(clients, client(n))
	}
	hist := runWriters(t, c, clients, 6, 4, func() {
		for round := range 2 {
			time.Sleep(600 * time.Millisecond)
			leader := leaderOf(t, c)
			t.Logf("round %d: kill -9 leader %s", round+1, c.Nodes[leader].ID)
			if err := c.Kill(leader); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(800 * time.Millisecond)
			if err := c.StartNode(leader); err != nil {
				t.Error(err)
				return
			}
		}
		time.Sleep(600 * time.Millisecond)
	})
	// Then a power loss the moment the writers stop: every node at once,
	// so no acknowledged write survives in memory alone.
	t.Log("kill -9 every node, restart them")
	powerCycle(t, c)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	leader, err := c.WaitCaughtUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var acked, info, failed int
	for key, ops := range hist {
		final := readUntilOK(t, c, leader, key)
		allowed, last := allowedFinal(ops)
		if !allowed[final] {
			t.Errorf("key %s reads %s; last acknowledged write %s; allowed %v; last writes %v",
				key, final, last, keysOf(allowed), ops[max(0, len(ops)-6):])
		}
		for _, op := range ops {
			switch op.outcome {
			case workload.OK:
				acked++
			case workload.Info:
				info++
			default:
				failed++
			}
		}
	}
	t.Logf("%d keys: %d writes acknowledged, %d unknown, %d failed", len(hist), acked, info, failed)
	if acked < 100 {
		t.Errorf("only %d writes acknowledged: the test proves little", acked)
	}
}

// powerCycle kills every node at once and starts them all again.
func powerCycle(t *testing.T, c *proccluster.Cluster) {
	t.Helper()
	if err := c.KillAll(); err != nil {
		t.Fatal(err)
	}
	for i := range c.Nodes {
		if err := c.StartNode(i); err != nil {
			t.Fatal(err)
		}
	}
}

// writeOp is one write in a key's history, in the order issued.
type writeOp struct {
	value   int64
	outcome workload.Outcome
}

func (o writeOp) String() string { return fmt.Sprintf("%d:%s", o.value, o.outcome) }

// runWriters runs writers goroutines, each owning keysEach keys and
// writing unique values to them in turn through the nodes round-robin,
// with a client session, until during returns. It returns each key's
// history.
func runWriters(t *testing.T, c *proccluster.Cluster, clients []workload.Client, writers, keysEach int, during func()) map[string][]writeOp {
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu   sync.Mutex
		hist = map[string][]writeOp{}
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			sess := workload.Session{ClientID: fmt.Sprintf("writer-%d", w)}
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("w%d-k%d", w, n%keysEach)
				v := int64(w)<<32 | int64(n+1)
				sess.Seq++
				actx, acancel := context.WithTimeout(ctx, time.Second)
				r := clients[(w+n)%len(clients)].Write(actx, key, v, sess)
				acancel()
				mu.Lock()
				hist[key] = append(hist[key], writeOp{v, r.Outcome})
				mu.Unlock()
				if r.Outcome != workload.OK {
					time.Sleep(20 * time.Millisecond) // no hot loop against a dead node
				}
			}
		})
	}
	during()
	cancel()
	wg.Wait()
	return hist
}

// value is a register's content as read: absent or a number.
type value struct {
	present bool
	n       int64
}

func (v value) String() string {
	if !v.present {
		return "never written"
	}
	return fmt.Sprint(v.n)
}

// allowedFinal is what a key may hold after ops, issued in order by one
// client with increasing sequence numbers (so an older request can never
// take effect after a newer one): the last acknowledged value, or any
// value written after it whose outcome was unknown. A failed write can
// never show.
func allowedFinal(ops []writeOp) (allowed map[value]bool, last value) {
	lastOK := -1
	for i, op := range ops {
		if op.outcome == workload.OK {
			lastOK = i
		}
	}
	allowed = map[value]bool{}
	if lastOK >= 0 {
		last = value{true, ops[lastOK].value}
	}
	allowed[last] = true
	for _, op := range ops[lastOK+1:] {
		if op.outcome == workload.Info {
			allowed[value{true, op.value}] = true
		}
	}
	return allowed, last
}

func keysOf(m map[value]bool) []value {
	var out []value
	for v := range m {
		out = append(out, v)
	}
	return out
}

// readUntilOK reads key at node i, retrying reads that fail, for up to 5 s.
func readUntilOK(t *testing.T, c *proccluster.Cluster, i int, key string) value {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
		r := c.Nodes[i].Client.Read(ctx, key)
		cancel()
		if r.Outcome == workload.OK {
			return value{r.Present, r.Value}
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %s at %s: %s: %v", key, c.Nodes[i].ID, r.Outcome, r.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSigtermCleanShutdownAndRejoin: SIGTERM ends a node with status 0
// and a log line; restarted on the same data directory it rejoins and
// catches up.
func TestSigtermCleanShutdownAndRejoin(t *testing.T) {
	c := startCluster(t)
	leader := leaderOf(t, c)
	mustWrite(t, c, leader, "a", 1)

	state, err := c.Terminate(leader, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !state.Exited() || state.ExitCode() != 0 {
		t.Fatalf("after SIGTERM: %v, want exit status 0", state)
	}
	if log := c.Log(leader); !strings.Contains(log, "shutting down") {
		t.Fatalf("log of %s does not say it is shutting down:\n%s", c.Nodes[leader].ID, lastLines(log, 20))
	}

	newLeader := leaderOf(t, c)
	mustWrite(t, c, newLeader, "a", 2)
	mustWrite(t, c, newLeader, "b", 3)
	if err := c.StartNode(leader); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)
	lst, err := c.Status(ctx, newLeader)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitApplied(ctx, leader, lst.Commit); err != nil {
		t.Fatal(err)
	}
	mustRead(t, c, leader, "a", 2)
	mustRead(t, c, leader, "b", 3)
	mustWrite(t, c, leader, "c", 4)
	mustRead(t, c, newLeader, "c", 4)
	st, err := c.Status(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != c.Nodes[newLeader].ID || st.Term != lst.Term {
		t.Errorf("restarted %s sees leader %q in term %d; want %s in term %d",
			c.Nodes[leader].ID, st.Leader, st.Term, c.Nodes[newLeader].ID, lst.Term)
	}
}

// TestGarbagePeerFramesDisconnected: whatever a stranger writes to a
// node's peer port, the node hangs up, counts it, and keeps working.
func TestGarbagePeerFramesDisconnected(t *testing.T) {
	c := startCluster(t)
	const target = 0
	victim, claimed := c.Nodes[target], c.Nodes[1] // claim to be n2, talking to n1
	hello := handshakeFrame(claimed.ID, victim.ID)
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"random bytes", random},
		{"an HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"handshake with a bad checksum", corrupt(hello)},
		{"handshake to another node", handshakeFrame(claimed.ID, "n3")},
		{"message that does not decode", concat(hello, frame([]byte("garbage, not a raft message")))},
		{"message with a bad checksum", concat(hello, corrupt(frame([]byte("garbage"))))},
		{"message longer than the limit", concat(hello, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})},
	}
	ctx := testCtx(t, 10*time.Second)
	before, err := c.Metric(ctx, target, "raftnode_peer_bad_frames_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		conn, err := net.Dial("tcp", victim.PeerAddr)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := conn.Write(tc.data)
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, rerr := io.Copy(io.Discard, conn) // nil at EOF
		conn.Close()
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			t.Errorf("%s: still connected 3s later (write error %v)", tc.name, werr)
		}
	}
	after, err := c.Metric(ctx, target, "raftnode_peer_bad_frames_total")
	if err != nil {
		t.Fatal(err)
	}
	if got := after - before; got != float64(len(cases)) {
		t.Errorf("raftnode_peer_bad_frames_total rose by %v, want %d", got, len(cases))
	}
	if !c.Running(target) {
		t.Fatalf("%s exited", victim.ID)
	}
	mustWrite(t, c, target, "after-garbage", 1)
	for i := range c.Nodes {
		mustRead(t, c, i, "after-garbage", 1)
	}
}

// frame builds a peer frame: length, CRC32C, payload (node/transport's
// wire format, written out independently here).
func frame(payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	return append(b, payload...)
}

func handshakeFrame(from, to string) []byte {
	p := append([]byte("RAFTCHK1"), 1, byte(len(from)))
	p = append(p, from...)
	p = append(p, byte(len(to)))
	p = append(p, to...)
	return frame(p)
}

// corrupt flips a payload bit of a frame, leaving its checksum stale.
func corrupt(f []byte) []byte {
	out := bytes.Clone(f)
	out[len(out)-1] ^= 1
	return out
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestUnsafeBogusRefused: an unknown unsafe mode is a usage error that
// names the real ones.
func TestUnsafeBogusRefused(t *testing.T) {
	for _, modes := range []string{"bogus", "stale-reads,bogus"} {
		cmd := exec.Command(raftnodeBin, "--id", "n1", "--peers", "n1=127.0.0.1:1",
			"--data-dir", t.TempDir(), "--unsafe", modes)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("--unsafe %s: %v, want exit status 2; stderr: %s", modes, err, stderr.String())
		}
		for _, m := range append([]string{`"bogus"`}, replica.UnsafeModes()...) {
			if !strings.Contains(stderr.String(), m) {
				t.Errorf("--unsafe %s: message %q does not mention %s", modes, stderr.String(), m)
			}
		}
	}
}

// TestUnsafeStaleReadsFromMinority: with two of three nodes killed, the
// survivor refuses a read (503, fail) unless --unsafe stale-reads makes
// it answer from its own state.
func TestUnsafeStaleReadsFromMinority(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		outcome string
	}{
		{"safe", nil, http.StatusServiceUnavailable, "fail"},
		{"stale-reads", []string{"--unsafe", "stale-reads"}, http.StatusOK, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, tc.args...)
			ctx := testCtx(t, 10*time.Second)
			leader, err := c.WaitCaughtUp(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, c, leader, "k", 1)
			if _, err := c.WaitCaughtUp(ctx); err != nil {
				t.Fatal(err)
			}
			survivor := others(c, leader)[0]
			for _, i := range others(c, survivor) {
				if err := c.Kill(i); err != nil {
					t.Fatal(err)
				}
			}
			code, body := rawGet(t, c.HTTP, "http://"+c.Nodes[survivor].ClientAddr+"/v1/kv/k")
			if code != tc.code || body.Outcome != tc.outcome {
				t.Fatalf("read at the lone %s: HTTP %d %+v; want HTTP %d outcome %s",
					c.Nodes[survivor].ID, code, body, tc.code, tc.outcome)
			}
			if tc.outcome == "ok" && (body.Value == nil || *body.Value != 1) {
				t.Fatalf("stale read answered %+v, want value 1", body)
			}
		})
	}
}

type apiAnswer struct {
	Value   *int64 `json:"value"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
}

func rawGet(t *testing.T, hc *http.Client, url string) (int, apiAnswer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a apiAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("GET %s: HTTP %d, body not JSON: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, a
}

// TestUnsafeAckBeforePersist: acknowledged writes survive a power loss of
// the whole cluster, unless --unsafe ack-before-persist acknowledges them
// before they are on disk. (The unsafe node writes its log an election
// timeout late; the rare trial whose flush falls between the last
// acknowledgement and the kill is repeated.)
func TestUnsafeAckBeforePersist(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		unsafe bool
	}{
		{"safe", nil, false},
		{"ack-before-persist", []string{"--unsafe", "ack-before-persist"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, tc.args...)
			const writes = 20
			for trial := 1; ; trial++ {
				leader := leaderOf(t, c)
				key := fmt.Sprintf("k%d", trial)
				for v := range int64(writes) {
					mustWrite(t, c, leader, key, v+1)
				}
				powerCycle(t, c)
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				leader, err := c.WaitCaughtUp(ctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				got := readUntilOK(t, c, leader, key)
				lost := got != value{true, writes}
				t.Logf("trial %d: after the power loss %s reads %s (last acknowledged %d)", trial, key, got, writes)
				switch {
				case lost && !tc.unsafe:
					t.Fatalf("acknowledged write lost: %s reads %s, want %d", key, got, writes)
				case lost == tc.unsafe:
					return
				case trial == 3:
					t.Fatalf("3 trials and ack-before-persist never lost an acknowledged write")
				}
			}
		})
	}
}

// TestUnsafeNoDedup: a retried cas with the same Client-Id and
// Request-Seq applies once, unless --unsafe no-dedup applies it again.
func TestUnsafeNoDedup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		final int64
	}{
		{"safe", nil, 1},
		{"no-dedup", []string{"--unsafe", "no-dedup"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, tc.args...)
			leader := leaderOf(t, c)
			follower := others(c, leader)[0]
			sess := workload.Session{ClientID: "retrier", Seq: 1}
			ctx := testCtx(t, 10*time.Second)
			mustWrite(t, c, leader, "k", 1)
			if r := c.Nodes[leader].Client.CAS(ctx, "k", 1, 2, sess); r.Outcome != workload.OK {
				t.Fatalf("cas 1->2: %s %v", r.Outcome, r.Err)
			}
			mustWrite(t, c, leader, "k", 1)
			// The retry, as a client would send it after losing the answer.
			if r := c.Nodes[follower].Client.CAS(ctx, "k", 1, 2, sess); r.Outcome != workload.OK {
				t.Fatalf("retried cas 1->2: %s %v", r.Outcome, r.Err)
			}
			mustRead(t, c, leader, "k", tc.final)
		})
	}
}
