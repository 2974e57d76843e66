package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/internal/dockertest"
)

// A short run of the membership nemesis in containers is valid, and every
// change bit: the members reported the configuration changing.
func TestMembershipDockerRaftnode(t *testing.T) {
	dockertest.Need(t)
	membershipRun(t, "raftnode")
}

func TestMembershipDockerEtcd(t *testing.T) {
	dockertest.NeedEtcd(t)
	membershipRun(t, "etcd")
}

func membershipRun(t *testing.T, target string) {
	dir := t.TempDir()
	args := []string{"test", "--target", target, "--nodes", "3", "--time-limit", "40s",
		"--nemesis-interval", "4s", "--nemesis", "membership", "--seed", "3", "--results", dir}
	if img := os.Getenv("RAFTCHECK_NODE_IMAGE"); img != "" && target == "raftnode" {
		// The default tag is shared by every worktree on an engine.
		args = append(args, "--image", img)
	}
	code, out := raftcheck(t, args...)
	t.Log(out)
	if code != exitValid {
		t.Fatalf("%s with membership changes: exit %d, want 0 (valid)", target, code)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest", store.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res store.RunResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) == 0 {
		t.Fatal("no membership change was made")
	}
	readded := false
	for _, f := range res.Faults {
		t.Logf("%s: bit %v: %s", f.Action, f.Bit != nil && *f.Bit, f.Evidence)
		if f.Bit == nil || !*f.Bit {
			t.Errorf("%s did not bite: %s", f.Action, f.Evidence)
		}
		if !strings.Contains(f.Evidence, "before") || !strings.Contains(f.Evidence, "after") {
			t.Errorf("%s: evidence without the configuration before and after: %s", f.Action, f.Evidence)
		}
		readded = readded || strings.Contains(f.Evidence, "as member n")
	}
	if !readded {
		t.Error("no slot was added back under a new member ID")
	}
}
