package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/internal/dockertest"
)

// raftcheck runs the CLI in-process and returns its exit status and
// output.
func raftcheck(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestBadFlagsExit3(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"test", "--nodes", "0", "--backend", "sim"},
		{"test", "--backend", "cloud"},
		{"test", "--nemesis", "flood", "--backend", "sim"},
		{"test", "--unsafe", "sloppy", "--backend", "sim"},
		{"test", "--time-limit", "soon"},
		{"sim", "--seeds", "0"},
		{"check"},
		{"check", "/does/not/exist"},
	} {
		code, out := raftcheck(t, args...)
		if code != exitHarness {
			t.Errorf("raftcheck %q: exit %d, want 3; output:\n%s", args, code, out)
		}
		if len(args) > 0 && !strings.Contains(out, "raftcheck") {
			t.Errorf("raftcheck %q: no message: %q", args, out)
		}
	}
}

// A valid simulated run exits 0 and writes its run directory; a run with
// stale reads exits 1 with an HTML view; check re-derives both verdicts.
func TestSimVerdictsAndStore(t *testing.T) {
	dir := t.TempDir()
	code, out := raftcheck(t, "test", "--backend", "sim", "--seed", "3", "--time-limit", "10s", "--results", dir)
	if code != exitValid {
		t.Fatalf("safe run: exit %d\n%s", code, out)
	}
	for _, f := range []string{"test.json", "history.jsonl", "results.json"} {
		if _, err := os.Stat(filepath.Join(dir, "latest", f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if code, out := raftcheck(t, "check", filepath.Join(dir, "latest")); code != exitValid {
		t.Errorf("check of the valid run: exit %d\n%s", code, out)
	}

	code, out = raftcheck(t, "sim", "--seeds", "5", "--unsafe", "stale-reads", "--time-limit", "10s", "--results", dir)
	if code != exitInvalid || !strings.Contains(out, "replay it with") {
		t.Fatalf("stale reads: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "history.html")); err != nil {
		t.Errorf("no HTML view for the invalid run: %v", err)
	}
	if code, out := raftcheck(t, "check", filepath.Join(dir, "latest", "history.jsonl")); code != exitInvalid {
		t.Errorf("check of the invalid run: exit %d\n%s", code, out)
	}
}

// The docker backend: a short campaign against real containers is valid,
// and the same with stale reads is caught.
func TestDockerCampaign(t *testing.T) {
	dockertest.Need(t)
	dir := t.TempDir()
	args := []string{"test", "--backend", "docker", "--nodes", "3", "--time-limit", "25s",
		"--nemesis-interval", "4s", "--results", dir}
	code, out := raftcheck(t, args...)
	t.Log(out)
	if code != exitValid {
		t.Fatalf("safe docker run: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "nodes", "n1.log")); err != nil {
		t.Errorf("node logs not collected: %v", err)
	}
	code, out = raftcheck(t, append(args, "--unsafe", "stale-reads")...)
	t.Log(out)
	if code != exitInvalid {
		t.Fatalf("stale-reads docker run: exit %d, want 1 (not linearizable)", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "latest", "history.html")); err != nil {
		t.Errorf("no HTML view: %v", err)
	}
}
