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
