package campaign

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Whatever N, the shards of a plan hold every run exactly once; the
// repetitions of an entry spread over them.
func TestSelectPartitionsThePlan(t *testing.T) {
	var plan []Run
	for i := range 23 {
		plan = append(plan, Run{Index: i, Name: fmt.Sprint("r", i/10)})
	}
	for n := 1; n <= 30; n++ {
		seen := make([]int, len(plan))
		for i := 1; i <= n; i++ {
			mine, sh := Select(plan, Shard{Index: i, Count: n})
			if sh.CampaignRuns != len(plan) {
				t.Fatalf("%d/%d: campaign runs %d", i, n, sh.CampaignRuns)
			}
			if lo, hi := len(plan)/n, (len(plan)+n-1)/n; len(mine) < lo || len(mine) > hi {
				t.Errorf("%d/%d: %d runs, want %d to %d", i, n, len(mine), lo, hi)
			}
			for _, r := range mine {
				seen[r.Index]++
			}
		}
		for i, c := range seen {
			if c != 1 {
				t.Errorf("N=%d: run %d in %d shards", n, i, c)
			}
		}
	}
}

func TestParseShard(t *testing.T) {
	for s, want := range map[string]Shard{"1/1": {Index: 1, Count: 1}, "3/8": {Index: 3, Count: 8}, "8/8": {Index: 8, Count: 8}} {
		if got, err := ParseShard(s); err != nil || got != want {
			t.Errorf("%s: %+v %v", s, got, err)
		}
	}
	for _, s := range []string{"", "0/4", "5/4", "x/y", "1/", "/4", "4", "-1/4", "1/0", "1/1001", "1/4/2"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// An entry's derived seed depends on the campaign seed and the entry
// only, differs between neighbours, and is never 0.
func TestEntrySeed(t *testing.T) {
	seen := map[uint64]bool{}
	for c := range uint64(20) {
		for i := range 20 {
			s := EntrySeed(c, i)
			if s != EntrySeed(c, i) || s == 0 || s >= 1<<52 {
				t.Fatalf("EntrySeed(%d, %d) = %d", c, i, s)
			}
			if seen[s] {
				t.Errorf("EntrySeed(%d, %d) = %d repeats", c, i, s)
			}
			seen[s] = true
		}
	}
}

// Two shards that ran the same test in the same second each keep their
// run directory in the merged store: the second gets a suffix, and the
// record points at it.
func TestMergeRenamesCollidingRunDirs(t *testing.T) {
	out := t.TempDir()
	var dirs []string
	for i := 1; i <= 2; i++ {
		root := t.TempDir()
		run := filepath.Join(root, "raftnode-register-sim", "20260102T030405Z")
		if err := os.MkdirAll(filepath.Join(run, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, "sub", "test.json"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		spec := &Spec{File: "x.yaml", Name: "x", SHA256: "abc", Seed: 9}
		sum := NewSummary(spec, root, 1, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		sum.Shard = &Shard{Index: i, Count: 2, CampaignRuns: 2}
		cfg := store.TestConfig{Name: "raftnode-register-sim", Backend: "sim", Seed: uint64(i)}
		sum.Add(NewRecord(Run{Index: i - 1, Name: "r", Rep: i, Repeat: 2, Expect: checker.Valid, Config: cfg}, cfg, root,
			time.Now(), time.Second, store.RunResult{Verdict: checker.Valid}, run, nil))
		sum.Finish(sum.StartedAt.Add(time.Minute), false)
		cdir, err := store.NewRunDir(root, Dir, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := sum.Write(cdir); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, root)
	}
	merged, _, err := Merge(out, []string{dirs[1], dirs[0]}, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if merged.ExitCode != ExitValid || len(merged.Runs) != 2 || merged.Runs[0].Index != 0 {
		t.Fatalf("merged: exit %d, runs %+v", merged.ExitCode, merged.Runs)
	}
	// Shard 2 was given first, so it kept the name.
	for i, want := range []string{"raftnode-register-sim/20260102T030405Z-2", "raftnode-register-sim/20260102T030405Z"} {
		r := merged.Runs[i]
		b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(r.Dir), "sub", "test.json"))
		if r.Dir != want || err != nil || string(b) != fmt.Sprint(i+1) {
			t.Errorf("run %d: dir %q (want %q), test.json %q %v", i, r.Dir, want, b, err)
		}
	}
}
