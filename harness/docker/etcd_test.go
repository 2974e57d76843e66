package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/internal/dockertest"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// TestEtcdFaults: the same cluster code runs etcd; every fault bites,
// and a majority killed together can be started one by one.
func TestEtcdFaults(t *testing.T) {
	dockertest.NeedEtcd(t)
	c := startClusterCfg(t, Config{Nodes: 3, Target: Etcd(500 * time.Millisecond)})
	ctx := context.Background()
	nodes := c.Nodes()
	clients := map[string]workload.Client{}
	for _, n := range nodes {
		cli, err := workload.DialEtcd(c.ClientAddr(n))
		must(t, err)
		t.Cleanup(func() { cli.Close() })
		clients[n] = workload.NewEtcdClient(cli, workload.Linearizable)
	}
	leader := waitLeader(t, c, anyLeader)
	for i, n := range nodes {
		writeReadVia(t, clients[n], n, "k-"+n, int64(i+1))
	}

	g := nemesis.Isolate(nodes, leader)
	timed(t, "partition (isolate leader)", func() error { return c.Partition(ctx, g) })
	mustBite(t, c, nemesis.Action{F: "partition", Name: "isolate-leader", Grudge: g})
	newLeader := waitLeader(t, c, func(l string) bool { return l != leader })
	writeReadVia(t, clients[newLeader], newLeader, "during-partition", 42)
	timed(t, "heal", func() error { return c.Heal(ctx) })
	mustBite(t, c, nemesis.Action{F: "heal"})

	victim := nodes[0]
	if victim == newLeader {
		victim = nodes[1]
	}
	timed(t, "kill", func() error { return c.Kill(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "kill", Nodes: []string{victim}})
	writeReadVia(t, clients[newLeader], newLeader, "while-killed", 7)
	timed(t, "start (until it listens)", func() error { return c.Start(ctx, victim) })
	writeReadVia(t, clients[victim], victim, "after-restart", 8)
	mustBite(t, c, nemesis.Action{F: "start", Nodes: []string{victim}})

	timed(t, "pause", func() error { return c.Pause(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "pause", Nodes: []string{victim}})
	timed(t, "resume", func() error { return c.Resume(ctx, victim) })
	mustBite(t, c, nemesis.Action{F: "resume", Nodes: []string{victim}})
	writeReadVia(t, clients[victim], victim, "after-resume", 9)

	// A majority killed together: neither can serve until both run, so
	// Start must not wait for a status.
	majority := []string{nodes[1], nodes[2]}
	must(t, nemesis.Apply(ctx, c, nemesis.Action{F: "kill", Nodes: majority}))
	timed(t, "start a killed majority", func() error {
		return nemesis.Apply(ctx, c, nemesis.Action{F: "start", Nodes: majority})
	})
	waitLeader(t, c, anyLeader)
	writeReadVia(t, clients[nodes[0]], nodes[0], "after-majority", 10)

	dir := t.TempDir()
	must(t, c.CopyLogs(ctx, dir))
	if c.Target().Name != "etcd" || !strings.HasPrefix(c.ClientAddr("n1"), "127.0.0.1:") {
		t.Errorf("Target %q, ClientAddr(n1) %q", c.Target().Name, c.ClientAddr("n1"))
	}
}

// TestEtcdExtraFaults: etcd on lazyfs takes packet loss and a power
// failure of the whole cluster and keeps its acknowledged writes; Corrupt
// refuses it (the log format is raftnode's).
//
// lazyfs runs in journal mode: etcd 3.4 never fsyncs member/wal after
// creating its first segment in wal.tmp and renaming the directory, nor
// member/snap after creating the bolt db; it relies on ext4's journal
// committing the names with the files' fsyncs. In strict mode a power
// failure of the whole cluster leaves member/wal and member/snap empty,
// and etcd comes back as a new cluster without its data.
func TestEtcdExtraFaults(t *testing.T) {
	dockertest.NeedEtcd(t)
	c := startClusterCfg(t, Config{Nodes: 3, Target: Etcd(500 * time.Millisecond), LazyFS: LazyFSJournal})
	ctx := context.Background()
	nodes := c.Nodes()
	clients := map[string]workload.Client{}
	for _, n := range nodes {
		cli, err := workload.DialEtcd(c.ClientAddr(n))
		must(t, err)
		t.Cleanup(func() { cli.Close() })
		clients[n] = workload.NewEtcdClient(cli, workload.Linearizable)
	}
	leader := waitLeader(t, c, anyLeader)
	writeReadVia(t, clients[leader], leader, "k", 1)

	lf := nemesis.LinkFault{Links: nemesis.Isolate(nodes, leader), Loss: 0.3}
	timed(t, "degrade", func() error { return c.Degrade(ctx, lf) })
	mustBite(t, c, nemesis.Action{F: "degrade", Name: "loss-isolate", Link: &lf})
	writeReadVia(t, clients[leader], leader, "k", 2)
	timed(t, "restore links", func() error { return c.RestoreLinks(ctx) })
	mustBite(t, c, nemesis.Action{F: "restore-links"})

	var lost map[string]int64
	timed(t, "lose-unfsynced (all)", func() (err error) { lost, err = c.LoseUnfsynced(ctx, nodes...); return err })
	t.Logf("bytes discarded: %v", lost)
	mustBite(t, c, nemesis.Action{F: "lose-unfsynced", Nodes: nodes})
	timed(t, "start all", func() error { return nemesis.Apply(ctx, c, nemesis.Action{F: "start", Nodes: nodes}) })
	waitLeader(t, c, anyLeader)
	writeReadVia(t, clients[nodes[0]], nodes[0], "after-power-failure", 3)
	// The member's gRPC connection may still be redialling after the
	// restart ("connection reset"); a read that failed had no effect, so
	// it is retried.
	r := clients[nodes[1]].Read(ctx, "k")
	for deadline := time.Now().Add(10 * time.Second); r.Outcome == workload.Fail && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		r = clients[nodes[1]].Read(ctx, "k")
	}
	if r.Outcome != workload.OK || !r.Present || r.Value != 2 {
		t.Errorf("etcd after a power failure reads k = %+v, want 2", r)
	}

	must(t, c.Kill(ctx, nodes[0]))
	if _, err := c.Corrupt(ctx, nodes[0], nemesis.TornTail); err == nil || !strings.Contains(err.Error(), "etcd target cannot take fault corrupt") {
		t.Errorf("Corrupt on etcd: %v", err)
	}
}
