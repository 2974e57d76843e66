package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/internal/dockertest"
	"github.com/raftcheck/raftcheck/nemesis"
)

// A short run of flip-byte and kill on raftnode is valid: each node whose
// log had a byte flipped refused to start, naming the file and offset,
// and came back under a new member ID on an empty disk.
func TestFlipByteDockerRaftnode(t *testing.T) {
	dockertest.Need(t)
	dir := t.TempDir()
	// Seed 4 draws flip-byte first, then kills.
	args := []string{"test", "--nodes", "3", "--time-limit", "30s", "--nemesis-interval", "4s",
		"--nemesis", "flip-byte,kill", "--seed", "4", "--results", dir}
	if img := os.Getenv("RAFTCHECK_NODE_IMAGE"); img != "" {
		args = append(args, "--image", img) // the default tag is shared by every worktree on an engine
	}
	code, out := raftcheck(t, args...)
	t.Log(out)
	if code != exitValid {
		t.Fatalf("flip-byte,kill: exit %d, want 0 (valid)", code)
	}
	b, err := os.ReadFile(filepath.Join(dir, "latest", store.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res store.RunResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	refused, readded := 0, 0
	for _, f := range res.Faults {
		t.Logf("%s: bit %v: %s", f.Action, f.Bit != nil && *f.Bit, f.Evidence)
		if f.Bit == nil || !*f.Bit {
			t.Errorf("%s did not bite: %s", f.Action, f.Evidence)
		}
		fields := strings.Fields(f.Action)
		slot := fields[len(fields)-1]
		switch {
		case strings.HasPrefix(f.Action, "corrupt "+nemesis.FlipByte):
			if !strings.Contains(f.Evidence, slot+" refused to start") || !strings.Contains(f.Evidence, "/wal/") || !strings.Contains(f.Evidence, "offset") {
				t.Errorf("%s: no refusal naming the file and offset: %s", f.Action, f.Evidence)
			}
			refused++
		case strings.HasPrefix(f.Action, "replace "+nemesis.ReplaceCorrupted):
			_, after, ok := strings.Cut(f.Evidence, "add "+slot+" as member ")
			if id, _, _ := strings.Cut(after, " "); !ok || id == slot || !strings.HasPrefix(id, slot) {
				t.Errorf("%s: not added back under a new member ID: %s", f.Action, f.Evidence)
			}
			readded++
		}
	}
	if refused == 0 || readded != refused {
		t.Errorf("%d refusals and %d slots added back; want at least one, each added back", refused, readded)
	}
}
