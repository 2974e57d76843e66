package harness

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// fakeCluster is an in-memory register service behind the Backend
// interface, in real time: one correct store, nodes that can be killed,
// and knobs to break it (no leader ever, no leader after the heal, an
// answer lost after the write took effect).
type fakeCluster struct {
	mu       sync.Mutex
	rt       *RealTime
	nodes    []string
	down     map[string]bool
	grudge   nemesis.Grudge
	values   map[string]int64
	leader   string // "" : no node claims leadership
	healed   bool
	noLeader bool // after the final heal
	// loseAnswers makes every first write attempt time out after
	// taking effect, so the engine must retry with the session.
	loseAnswers bool
	seen        map[workload.Session]bool
	attempts    int
}

func newFake() *fakeCluster {
	return &fakeCluster{rt: NewRealTime(), nodes: []string{"n1", "n2", "n3"}, down: map[string]bool{},
		values: map[string]int64{}, leader: "n1", seen: map[workload.Session]bool{}}
}

func (f *fakeCluster) Nodes() []string { return f.nodes }
func (f *fakeCluster) Partition(_ context.Context, g nemesis.Grudge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grudge = g
	return nil
}
func (f *fakeCluster) Heal(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grudge, f.healed = nil, true
	return nil
}
func (f *fakeCluster) set(node string, down bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[node] = down
	return nil
}
func (f *fakeCluster) Kill(_ context.Context, n string) error   { return f.set(n, true) }
func (f *fakeCluster) Start(_ context.Context, n string) error  { return f.set(n, false) }
func (f *fakeCluster) Pause(_ context.Context, n string) error  { return f.set(n, true) }
func (f *fakeCluster) Resume(_ context.Context, n string) error { return f.set(n, false) }
func (f *fakeCluster) Runtime() Runtime                         { return f.rt }
func (f *fakeCluster) Begin(func(nemesis.Action)) bool          { return true }
func (f *fakeCluster) End()                                     {}

func (f *fakeCluster) Status(_ context.Context, node string) (NodeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[node] {
		return NodeStatus{}, errors.New("down")
	}
	if f.leader == "" || (f.healed && f.noLeader) {
		return NodeStatus{Role: "candidate", Term: 2}, nil
	}
	role := "follower"
	if node == f.leader {
		role = "leader"
	}
	return NodeStatus{Role: role, Term: 1, Leader: f.leader}, nil
}

func (f *fakeCluster) Invoke(_ context.Context, node string, op workload.Op, s workload.Session, _ time.Duration) workload.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[node] {
		return workload.Result{Outcome: workload.Fail, Err: errors.New("refused")}
	}
	switch op.F {
	case checker.Read:
		v, ok := f.values[op.Key]
		return workload.Result{Outcome: workload.OK, Value: v, Present: ok}
	case checker.Write:
		f.attempts++
		if !f.seen[s] {
			f.values[op.Key] = op.Value
			f.seen[s] = true
			if f.loseAnswers {
				return workload.Result{Outcome: workload.Info, Err: errors.New("timed out")}
			}
		}
		return workload.Result{Outcome: workload.OK}
	}
	if v, ok := f.values[op.Key]; !ok || v != op.From {
		return workload.Result{Outcome: workload.Fail, Mismatch: true}
	}
	f.values[op.Key] = op.To
	return workload.Result{Outcome: workload.OK}
}

func (f *fakeCluster) Evidence(context.Context, nemesis.Action) (bool, string) { return true, "fake" }

func fakeConfig() store.TestConfig {
	return store.TestConfig{Name: "fake", Backend: "sim", Target: "raftnode", Nodes: 3, Workload: "register",
		Nemesis: []string{"kill", "partition"}, TimeLimit: store.Duration(600 * time.Millisecond), Concurrency: 4,
		Rate: 400, Seed: 1, NemesisInterval: store.Duration(100 * time.Millisecond),
		ClientTimeout: store.Duration(50 * time.Millisecond), Retries: 2, Recovery: store.Duration(300 * time.Millisecond)}
}

// A correct cluster gives a linearizable history whose faults come in
// invoke/info pairs, each recorded with its evidence and span, ending
// with heal-all and a final read of every key.
func TestRunRecordsPairedFaults(t *testing.T) {
	out, err := Run(context.Background(), newFake(), fakeConfig(), Options{StatusEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := checker.Check(context.Background(), out.Events) // also validates the pairs
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Valid || res.Counts.OK == 0 {
		t.Fatalf("verdict %v, counts %+v", res.Verdict, res.Counts)
	}
	var last checker.Event
	for _, e := range out.Events {
		if e.Nemesis {
			last = e
		}
	}
	if last.F != nemesis.HealAllF || last.Type != checker.Info {
		t.Fatalf("last nemesis event %+v, want heal-all's completion", last)
	}
	if len(out.Faults) == 0 {
		t.Fatal("no faults recorded")
	}
	for _, f := range out.Faults {
		if f.Bit == nil || !*f.Bit || f.Evidence != "fake" || f.End <= f.Start {
			t.Fatalf("fault %+v: want evidence and an end after its start", f)
		}
	}
	if len(out.Statuses) < 3 {
		t.Fatalf("%d status samples", len(out.Statuses))
	}
}

// An answer lost after the write took effect is retried with the same
// session at the next node, and the one operation is ok once.
func TestRunRetriesWithTheSession(t *testing.T) {
	f := newFake()
	f.loseAnswers = true
	cfg := fakeConfig()
	cfg.Nemesis = nil
	out, err := Run(context.Background(), f, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writes, infos := 0, 0
	for _, e := range out.Events {
		if !e.Nemesis && e.F == checker.Write && e.Type != checker.Invoke {
			writes++
			if e.Type == checker.Info {
				infos++
			}
		}
	}
	if writes == 0 || infos != 0 || f.attempts < 2*writes {
		t.Fatalf("%d writes, %d info, %d attempts: want every write retried once and ok", writes, infos, f.attempts)
	}
}

// A cluster that never elects is a harness error that says so; one that
// elected but does not recover after the heal is not live.
func TestRunLeaderErrors(t *testing.T) {
	never := newFake()
	never.leader = ""
	_, err := Run(context.Background(), never, fakeConfig(), Options{})
	if err == nil || !strings.Contains(err.Error(), "never elected") {
		t.Fatalf("never elected: err = %v", err)
	}
	stuck := newFake()
	stuck.noLeader = true
	out, err := Run(context.Background(), stuck, fakeConfig(), Options{})
	if err != nil || !strings.Contains(out.NotLive, "no leader within 5s") {
		t.Fatalf("no recovery: not live %q, err %v; want a not-live verdict", out.NotLive, err)
	}
	healthy, err := Run(context.Background(), newFake(), fakeConfig(), Options{})
	if err != nil || healthy.NotLive != "" {
		t.Fatalf("healthy cluster: not live %q, err %v", healthy.NotLive, err)
	}
}

// The leader rule: the highest-term claimant among the nodes that answer.
func TestLeaderOf(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	sts := []NodeStatus{{Role: "leader", Term: 3}, {Role: "leader", Term: 5}, {Role: "follower", Term: 5, Leader: "n2"}}
	if l := LeaderOf(nodes, sts, []bool{true, true, true}); l != "n2" {
		t.Errorf("leader %q, want n2 (the newer term)", l)
	}
	if l := LeaderOf(nodes, sts, []bool{true, false, true}); l != "n1" {
		t.Errorf("leader %q, want n1 (n2 does not answer)", l)
	}
	if l := LeaderOf(nodes, sts, []bool{false, false, true}); l != "" {
		t.Errorf("leader %q, want none", l)
	}
}
