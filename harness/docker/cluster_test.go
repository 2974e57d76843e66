package docker

import (
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/internal/dockertest"

	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// The tests need a Docker engine and the raftcheck/raftnode:dev image;
// see internal/dockertest for when they run.

var testArgs = []string{"--election-timeout", "300ms", "--heartbeat", "30ms"}

func needDocker(t *testing.T) {
	t.Helper()
	dockertest.Need(t)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func startCluster(t *testing.T, nodes int) *Cluster {
	t.Helper()
	return startClusterCfg(t, Config{Nodes: nodes, Args: testArgs})
}

func startClusterCfg(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	nodes := cfg.Nodes
	cfg.RunID, cfg.Logger = fmt.Sprintf("test-%d", time.Now().UnixNano()), testLogger(t)
	c, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measure: start %d nodes: %v", nodes, time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			dir := t.TempDir()
			if err := c.CopyLogs(context.Background(), dir); err == nil {
				for _, n := range c.Nodes() {
					b, _ := os.ReadFile(filepath.Join(dir, n+".log"))
					t.Logf("--- %s.log (tail)\n%s", n, tail(string(b), 30))
				}
			}
		}
		if err := c.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// leaderOf applies the engine's leader rule to the nodes' answers.
func leaderOf(c *Cluster) string {
	nodes := c.Nodes()
	sts := make([]harness.NodeStatus, len(nodes))
	ok := make([]bool, len(nodes))
	for i, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		st, err := c.Status(ctx, n)
		cancel()
		sts[i], ok[i] = harness.NodeStatus{Role: st.Role, Term: st.Term, Leader: st.Leader}, err == nil
	}
	return harness.LeaderOf(nodes, sts, ok)
}

// waitLeader polls until a majority agrees on a leader that satisfies ok.
func waitLeader(t *testing.T, c *Cluster, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if l := leaderOf(c); l != "" && ok(l) {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no acceptable leader within 20s")
	return ""
}

func anyLeader(string) bool { return true }

// timed runs f and logs how long it took.
func timed(t *testing.T, what string, f func() error) {
	t.Helper()
	began := time.Now()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Logf("measure: %s: %v", what, time.Since(began).Round(time.Millisecond))
}

func mustBite(t *testing.T, c *Cluster, a nemesis.Action) {
	t.Helper()
	began := time.Now()
	bit, detail := c.Evidence(context.Background(), a)
	t.Logf("evidence %s (%v): bit=%v: %s", a, time.Since(began).Round(time.Millisecond), bit, detail)
	if !bit {
		t.Fatalf("%s did not bite: %s", a, detail)
	}
}

// writeRead writes v to key through node and reads it back.
func writeRead(t *testing.T, c *Cluster, node, key string, v int64) {
	t.Helper()
	writeReadVia(t, workload.NewRaftnodeClient(c.ClientAddr(node), workload.NewHTTPClient(2)), node, key, v)
}

// writeReadVia writes v to key with cl, retrying until it works, and
// reads it back.
func writeReadVia(t *testing.T, cl workload.Client, node, key string, v int64) {
	t.Helper()
	var last workload.Result
	for range 50 { // the node may need a moment to find the leader
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		last = cl.Write(ctx, key, v, workload.Session{ClientID: "test-" + node + key, Seq: uint64(v)})
		cancel()
		if last.Outcome == workload.OK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last.Outcome != workload.OK {
		t.Fatalf("write %s=%d via %s: %s: %v", key, v, node, last.Outcome, last.Err)
	}
	// A read can fail for a moment (etcd: "leader changed" just after an
	// election); what it must never do is succeed with another value.
	var r workload.Result
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r = cl.Read(ctx, key)
		cancel()
		if r.Outcome == workload.OK {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Outcome != workload.OK || !r.Present || r.Value != v {
		t.Fatalf("read %s via %s: %+v, want %d", key, node, r, v)
	}
}

func TestClusterFaults(t *testing.T) {
	needDocker(t)
	c := startCluster(t, 3)
	ctx := context.Background()
	nodes := c.Nodes()
	if len(nodes) != 3 || nodes[0] != "n1" || !strings.HasPrefix(c.ClientAddr("n1"), "127.0.0.1:") || c.ClientAddr("n9") != "" {
		t.Fatalf("Nodes() = %v, ClientAddr(n1) = %q", nodes, c.ClientAddr("n1"))
	}
	leader := waitLeader(t, c, anyLeader)
	for i, n := range nodes {
		writeRead(t, c, n, "k-"+n, int64(i+1))
	}

	// Isolate the leader: it steps down and the others elect a new one.
	g := nemesis.Isolate(nodes, leader)
	timed(t, "partition (isolate leader)", func() error { return c.Partition(ctx, g) })
	mustBite(t, c, nemesis.Action{F: "partition", Name: "isolate-leader", Grudge: g})
	newLeader := waitLeader(t, c, func(l string) bool { return l != leader })
	t.Logf("leader %s isolated; new leader %s", leader, newLeader)
	writeRead(t, c, newLeader, "during-partition", 42)
	timed(t, "heal", func() error { return c.Heal(ctx) })
	mustBite(t, c, nemesis.Action{F: "heal"})

	// Kill a follower; the rest carry on; start it again and it catches up.
	victim := nodes[0]
	if victim == newLeader {
		victim = nodes[1]
	}
	addr := c.ClientAddr(victim)
	timed(t, "kill", func() error { return c.Kill(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "kill", Nodes: []string{victim}})
	writeRead(t, c, newLeader, "while-killed", 7)
	timed(t, "start (until it answers status)", func() error { return c.Start(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "start", Nodes: []string{victim}})
	if c.ClientAddr(victim) != addr {
		t.Fatalf("ClientAddr(%s) changed across restart: %s -> %s", victim, addr, c.ClientAddr(victim))
	}
	writeRead(t, c, victim, "after-restart", 8)

	// Pause and resume.
	timed(t, "pause", func() error { return c.Pause(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "pause", Nodes: []string{victim}})
	timed(t, "resume", func() error { return c.Resume(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "resume", Nodes: []string{victim}})
	writeRead(t, c, victim, "after-resume", 9)
}

// TestPartitionAcrossKillAndPause: a partition made while a node is dead
// or frozen holds when it comes back.
func TestPartitionAcrossKillAndPause(t *testing.T) {
	needDocker(t)
	c := startCluster(t, 3)
	ctx := context.Background()
	nodes := c.Nodes()
	waitLeader(t, c, anyLeader)
	halves := nemesis.Groups([][]string{{"n1"}, {"n2", "n3"}})
	bridge := nemesis.Bridge([]string{"n1", "n2", "n3"}) // n1 | n2 | n3, n2 hears both

	// Killed, then partitioned: the entrypoint applies it on start.
	must(t, c.Kill(ctx, "n1"))
	must(t, c.Partition(ctx, halves))
	must(t, c.Start(ctx, "n1"))
	mustBite(t, c, nemesis.Action{F: "partition", Name: "halves", Grudge: halves})

	// Paused, then partitioned differently: a helper sets the rules.
	must(t, c.Pause(ctx, "n1"))
	timed(t, "partition with a paused node", func() error { return c.Partition(ctx, bridge) })
	must(t, c.Resume(ctx, "n1"))
	mustBite(t, c, nemesis.Action{F: "partition", Name: "bridge", Grudge: bridge})

	// Healed while dead: it starts healed.
	must(t, c.Kill(ctx, "n3"))
	must(t, c.Heal(ctx))
	must(t, c.Start(ctx, "n3"))
	mustBite(t, c, nemesis.Action{F: "heal"})
	for _, n := range nodes {
		writeRead(t, c, n, "healed-"+n, 1)
	}

	// Kill a paused node.
	must(t, c.Pause(ctx, "n2"))
	must(t, c.Kill(ctx, "n2"))
	mustBite(t, c, nemesis.Action{F: "kill", Nodes: []string{"n2"}})
	must(t, c.Start(ctx, "n2"))

	dir := t.TempDir()
	must(t, c.CopyLogs(ctx, dir))
	b, err := os.ReadFile(filepath.Join(dir, "n1.log"))
	must(t, err)
	if got := strings.Count(string(b), "raftnode started"); got != 2 {
		t.Errorf("n1.log has %d starts, want 2 (the log should span restarts)", got)
	}
}

func TestFiveNodes(t *testing.T) {
	needDocker(t)
	c := startCluster(t, 5)
	l := waitLeader(t, c, anyLeader)
	ring := nemesis.MajoritiesRing(c.Nodes())
	timed(t, "partition (5 nodes, majorities ring)", func() error { return c.Partition(context.Background(), ring) })
	mustBite(t, c, nemesis.Action{F: "partition", Name: "majorities-ring", Grudge: ring})
	timed(t, "heal (5 nodes)", func() error { return c.Heal(context.Background()) })
	writeRead(t, c, l, "five", 5)
}

// TestCloseRemovesEverything also covers Close after a cancelled context
// and with paused and killed nodes.
func TestCloseRemovesEverything(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	c, err := Start(ctx, Config{Nodes: 3, Args: testArgs, RunID: fmt.Sprintf("close-%d", time.Now().UnixNano())})
	must(t, err)
	must(t, c.Pause(ctx, "n1"))
	must(t, c.Kill(ctx, "n2"))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	began := time.Now()
	must(t, c.Close(cancelled))
	t.Logf("measure: close 3 nodes: %v", time.Since(began).Round(time.Millisecond))
	if n := countLabelled(t, LabelRun+"="+c.RunID()); n != 0 {
		t.Fatalf("%d resources of run %s left after Close", n, c.RunID())
	}
}

// TestCleanup removes every raftcheck resource on the engine, so it runs
// only when no other run's resources exist.
func TestCleanup(t *testing.T) {
	needDocker(t)
	if n := countLabelled(t, LabelManaged+"=true"); n != 0 {
		t.Skipf("%d raftcheck resources exist already (another run?); not removing them", n)
	}
	ctx := context.Background()
	c, err := Start(ctx, Config{Nodes: 3, Args: testArgs, RunID: fmt.Sprintf("leftover-%d", time.Now().UnixNano())})
	must(t, err)
	must(t, c.Pause(ctx, "n3")) // an interrupted run may leave anything
	n, err := Cleanup(ctx)
	must(t, err)
	if n < 4 { // 3 containers, a network, maybe volumes
		t.Errorf("Cleanup removed %d resources, want at least 4", n)
	}
	if left := countLabelled(t, LabelManaged+"=true"); left != 0 {
		t.Fatalf("%d raftcheck resources left after Cleanup", left)
	}
	if n, err := Cleanup(ctx); err != nil || n != 0 {
		t.Fatalf("second Cleanup = %d, %v; want 0, nil", n, err)
	}
}

// countLabelled counts containers, networks and volumes carrying label.
func countLabelled(t *testing.T, label string) int {
	t.Helper()
	ctx := context.Background()
	api, err := client.New(client.FromEnv)
	must(t, err)
	defer api.Close()
	f := client.Filters{}.Add("label", label)
	ctrs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	must(t, err)
	nets, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	must(t, err)
	vols, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	must(t, err)
	return len(ctrs.Items) + len(nets.Items) + len(vols.Items)
}

func TestElectionTimeoutFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 500 * time.Millisecond},
		{[]string{"--election-timeout", "300ms"}, 300 * time.Millisecond},
		{[]string{"--unsafe", "stale-reads", "-election-timeout=1s"}, time.Second},
	} {
		if got := electionTimeout(tc.args); got != tc.want {
			t.Errorf("electionTimeout(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestIsolated(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	if got := isolated(nodes, nemesis.Isolate(nodes, "n4")); got != "n4" {
		t.Errorf("isolated(Isolate n4) = %q", got)
	}
	if got := isolated(nodes, nemesis.MajoritiesRing(nodes)); got != "" {
		t.Errorf("isolated(ring) = %q, want none", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
