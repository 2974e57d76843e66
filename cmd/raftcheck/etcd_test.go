package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/internal/dockertest"
)

func TestEtcdFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"test", "--target", "etcd", "--backend", "sim"}, "--backend docker only"},
		{[]string{"sim", "--target", "etcd", "--seeds", "1"}, "--backend docker only"},
		{[]string{"test", "--etcd-reads", "serializable", "--backend", "sim"}, "--target etcd only"},
		{[]string{"test", "--target", "etcd", "--etcd-reads", "stale"}, "want linearizable or serializable"},
		{[]string{"test", "--target", "etcd", "--unsafe", "stale-reads"}, "etcd has none"},
		{[]string{"test", "--target", "zookeeper"}, "want raftnode or etcd"},
	} {
		code, out := raftcheck(t, tc.args...)
		if code != exitHarness || !strings.Contains(out, tc.want) {
			t.Errorf("raftcheck %q: exit %d, want 3 with %q; output:\n%s", tc.args, code, tc.want, out)
		}
	}
}

// etcd in containers: with linearizable reads a short campaign of
// partitions, kills and pauses is valid; with serializable reads under
// partitions the checker finds the stale reads and draws them.
func TestEtcdDockerCampaign(t *testing.T) {
	dockertest.NeedEtcd(t)
	dir := t.TempDir()
	args := []string{"test", "--target", "etcd", "--nodes", "3", "--time-limit", "25s",
		"--nemesis-interval", "4s", "--results", dir}
	code, out := raftcheck(t, append(args, "--nemesis", "partition,kill,pause")...)
	t.Log(out)
	if code != exitValid {
		t.Fatalf("etcd, linearizable reads: exit %d, want 0 (valid)", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "nodes", "n1.log")); err != nil {
		t.Errorf("node logs not collected: %v", err)
	}
	code, out = raftcheck(t, append(args, "--nemesis", "partition", "--etcd-reads", "serializable")...)
	t.Log(out)
	if code != exitInvalid {
		t.Fatalf("etcd, serializable reads: exit %d, want 1 (not linearizable)", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "history.html")); err != nil {
		t.Errorf("no HTML view: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest", "test.json"))
	if err != nil || !strings.Contains(string(b), `"target": "etcd"`) || !strings.Contains(string(b), `"etcd_reads": "serializable"`) {
		t.Errorf("test.json does not record target and read mode: %v\n%s", err, b)
	}
}
