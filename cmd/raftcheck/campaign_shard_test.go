package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/harness/campaign"
)

// A sim-only campaign of 9 runs: a sweep without a seed (its seeds come
// from the campaign seed), a pinned pair, a within: search, and a bug
// nobody expects (so the campaign exits 1). Plan indexes: sweep 0..4,
// pinned 5..6, caught 7, bug 8; of 4 shards, shard 1 holds 0, 4, 8.
const shardedSpec = `name: sharded
defaults:
  backend: sim
  time-limit: 5s
runs:
  - name: sweep
    repeat: 5
  - name: pinned
    seed: 3
    repeat: 2
  - name: caught
    unsafe: stale-reads
    seed: 1
    within: 3
    expect: invalid
  - name: bug
    unsafe: stale-reads
    seed: 1
`

// campaignResult is a finished campaign: its summary, JUnit report,
// exit status and output.
type campaignResult struct {
	code  int
	out   string
	sum   *campaign.Summary
	junit campaign.JUnitSuites
	dir   string // the campaign directory
}

// readCampaign reads the one campaign in a results store and a JUnit file.
func readCampaign(t *testing.T, code int, out, results, junit string) campaignResult {
	t.Helper()
	found, _ := filepath.Glob(filepath.Join(results, campaign.Dir, "*", campaign.SummaryFile))
	if len(found) != 1 {
		t.Fatalf("exit %d: want one campaign in %s, found %q\n%s", code, results, found, out)
	}
	sum, err := campaign.ReadSummary(found[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc campaign.JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit %s does not parse: %v", junit, err)
	}
	return campaignResult{code: code, out: out, sum: sum, junit: doc, dir: filepath.Dir(found[0])}
}

// runShards runs spec as n shards, each into its own results store, and
// returns the stores.
func runShards(t *testing.T, spec string, n int, seed string) []string {
	t.Helper()
	var stores []string
	for i := 1; i <= n; i++ {
		results := t.TempDir()
		code, out := raftcheck(t, "campaign", "--spec", spec, "--results", results,
			"--campaign-seed", seed, "--shard", fmt.Sprintf("%d/%d", i, n))
		if code == campaign.ExitHarness {
			t.Fatalf("shard %d/%d: exit 3\n%s", i, n, out)
		}
		stores = append(stores, results)
	}
	return stores
}

// wallTime is the wall-clock part of a simulated run's note.
var wallTime = regexp.MustCompile(`in [0-9.]+[a-zµ]+ \([0-9.]+x real time\)`)

// runFacts is what must agree between a sharded and an unsharded
// campaign: everything but wall times, start times and where the run
// directories lie.
func runFacts(r campaign.Record) string {
	cfg, _ := json.Marshal(r.Config)
	r.Notes = slices.Clone(r.Notes)
	for i, n := range r.Notes {
		r.Notes[i] = wallTime.ReplaceAllString(n, "in (wall time)")
	}
	return fmt.Sprintf("#%d %s rep %d/%d expect %s verdict %s outcome %s error %q counts %+v keys %v notes %q replay %q has-dir %v html %q config %s",
		r.Index, r.Label, r.Rep, r.Repeat, r.Expect, r.Verdict, r.Outcome, r.Error, r.Counts, r.FailingKeys, r.Notes,
		r.Replay, r.Dir != "", r.HTML, cfg)
}

// caseFacts is a JUnit case less its time and the paths in its text.
func caseFacts(c campaign.JUnitCase) string {
	s := c.Name + " " + c.Classname
	if c.Failure != nil {
		s += " failure " + c.Failure.Type + ": " + c.Failure.Message
	}
	if c.Error != nil {
		s += " error " + c.Error.Type + ": " + c.Error.Message
	}
	return s
}

// Four shards and a merge give what one unsharded run of the campaign
// gives: the same runs in the same order with the same seeds,
// configurations, verdicts, outcomes and counts, the same JUnit cases,
// totals and exit status; the merged index links to run directories that
// are there.
func TestCampaignShardsMergeEqualUnsharded(t *testing.T) {
	spec := writeSpec(t, shardedSpec)
	const seed = "7"

	whole := t.TempDir()
	code, out := raftcheck(t, "campaign", "--spec", spec, "--results", whole, "--campaign-seed", seed,
		"--junit", filepath.Join(whole, "junit.xml"))
	one := readCampaign(t, code, out, whole, filepath.Join(whole, "junit.xml"))
	if one.code != exitInvalid || len(one.sum.Runs) != 9 || one.sum.CampaignSeed != 7 {
		t.Fatalf("unsharded: exit %d, %d runs, campaign seed %d; want 1, 9, 7\n%s", one.code, len(one.sum.Runs), one.sum.CampaignSeed, out)
	}
	if want := campaign.EntrySeed(7, 0); one.sum.Runs[0].Config.Seed != want || one.sum.Runs[4].Config.Seed != want+4 {
		t.Errorf("sweep seeds %d..%d, want %d.. from the campaign seed", one.sum.Runs[0].Config.Seed, one.sum.Runs[4].Config.Seed, want)
	}
	if !strings.Contains(out, "campaign seed 7") {
		t.Errorf("the campaign seed is not printed:\n%s", out)
	}

	stores := runShards(t, spec, 4, seed)
	for i, s := range stores {
		found, _ := filepath.Glob(filepath.Join(s, campaign.Dir, "*", campaign.SummaryFile))
		sum, err := campaign.ReadSummary(found[0])
		if err != nil {
			t.Fatal(err)
		}
		// Shard 1 holds runs 0, 4 and 8 (the bug); shard 4 holds 3 and 7.
		if wantRuns := []int{3, 2, 2, 2}[i]; len(sum.Runs) != wantRuns || sum.Shard == nil || sum.Shard.Index != i+1 || sum.Shard.CampaignRuns != 9 {
			t.Errorf("shard %d: %d runs (want %d), shard %+v", i+1, len(sum.Runs), wantRuns, sum.Shard)
		}
	}
	merged := t.TempDir()
	junit := filepath.Join(merged, "junit.xml")
	code, out = raftcheck(t, append([]string{"campaign", "merge", "--out", merged, "--junit", junit}, stores...)...)
	many := readCampaign(t, code, out, merged, junit)

	if many.code != one.code || many.sum.ExitCode != one.sum.ExitCode || many.sum.Totals != one.sum.Totals ||
		many.sum.Planned != one.sum.Planned || many.sum.Done != one.sum.Done || many.sum.CampaignSeed != one.sum.CampaignSeed ||
		many.sum.SpecSHA256 != one.sum.SpecSHA256 || many.sum.Name != one.sum.Name {
		t.Errorf("merged: exit %d summary exit %d totals %+v planned %d done %v seed %d; unsharded: %d %d %+v %d %v %d\n%s",
			many.code, many.sum.ExitCode, many.sum.Totals, many.sum.Planned, many.sum.Done, many.sum.CampaignSeed,
			one.code, one.sum.ExitCode, one.sum.Totals, one.sum.Planned, one.sum.Done, one.sum.CampaignSeed, out)
	}
	if len(many.sum.Runs) != len(one.sum.Runs) {
		t.Fatalf("merged %d runs, unsharded %d", len(many.sum.Runs), len(one.sum.Runs))
	}
	dirs := map[string]bool{}
	for i := range one.sum.Runs {
		if a, b := runFacts(many.sum.Runs[i]), runFacts(one.sum.Runs[i]); a != b {
			t.Errorf("run %d:\n merged    %s\n unsharded %s", i, a, b)
		}
		r := many.sum.Runs[i]
		if r.Dir == "" {
			continue
		}
		if dirs[r.Dir] {
			t.Errorf("run %d: directory %s given twice", i, r.Dir)
		}
		dirs[r.Dir] = true
		// index.html links ../../<dir>/index.html from the campaign directory.
		for _, f := range []string{"test.json", campaign.RunReport, r.HTML} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(many.dir, "..", "..", filepath.FromSlash(r.Dir), f)); err != nil {
				t.Errorf("run %d: the merged index's link to %s: %v", i, f, err)
			}
		}
	}
	a, b := many.junit.Suites[0], one.junit.Suites[0]
	if a.Tests != b.Tests || a.Failures != b.Failures || a.Errors != b.Errors || len(a.Cases) != len(b.Cases) {
		t.Fatalf("JUnit: merged %d tests %d failures %d errors, unsharded %d %d %d", a.Tests, a.Failures, a.Errors, b.Tests, b.Failures, b.Errors)
	}
	for i := range a.Cases {
		if x, y := caseFacts(a.Cases[i]), caseFacts(b.Cases[i]); x != y {
			t.Errorf("JUnit case %d:\n merged    %s\n unsharded %s", i, x, y)
		}
	}
	page, err := os.ReadFile(filepath.Join(many.dir, campaign.IndexFile))
	if err != nil || !strings.Contains(string(page), "merged from 4 shards") || !strings.Contains(string(page), "1 of 9 runs did not pass (exit 1)") {
		t.Errorf("merged index.html (%v) lacks its status", err)
	}

	// Without shard 1 (which holds the bug) the campaign is incomplete:
	// exit 3, the missing shard named; without shard 4 the bug still
	// makes it 1.
	code, out = raftcheck(t, "campaign", "merge", "--out", t.TempDir(), stores[1], stores[2], stores[3])
	if code != exitHarness || !strings.Contains(out, "MISSING shards [1]") || !strings.Contains(out, "INTERRUPTED: 3 runs did not run") {
		t.Errorf("merge without shard 1: exit %d, want 3 naming it\n%s", code, out)
	}
	if code, out = raftcheck(t, "campaign", "merge", "--out", t.TempDir(), stores[0], stores[1], stores[2]); code != exitInvalid {
		t.Errorf("merge without shard 4: exit %d, want 1\n%s", code, out)
	}
}

// Bad shards and bad merges exit 3 with a message saying what is wrong,
// before anything runs or is written.
func TestCampaignShardBadInput(t *testing.T) {
	spec := writeSpec(t, "name: tiny\nruns:\n  - {backend: sim, time-limit: 1s, repeat: 2}\n")
	for _, c := range []struct{ shard, want string }{
		{"0/4", `--shard "0/4": I must be 1 to 4`},
		{"5/4", `--shard "5/4": I must be 1 to 4`},
		{"x/y", `--shard "x/y": want I/N`},
		{"3", `--shard "3": want I/N`},
		{"1/0", `--shard "1/0": N must be 1 to`},
	} {
		results := t.TempDir()
		code, out := raftcheck(t, "campaign", "--spec", spec, "--results", results, "--shard", c.shard)
		if code != exitHarness || !strings.Contains(out, c.want) {
			t.Errorf("--shard %s: exit %d\n got %s\nwant %s", c.shard, code, out, c.want)
		}
		if _, err := os.Stat(filepath.Join(results, campaign.Dir)); err == nil {
			t.Errorf("--shard %s: a campaign ran", c.shard)
		}
	}
	if code, out := raftcheck(t, "campaign", "--spec", spec, "--campaign-seed", "-1"); code != exitHarness || !strings.Contains(out, "campaign-seed") {
		t.Errorf("--campaign-seed -1: exit %d\n%s", code, out)
	}

	shards := runShards(t, spec, 2, "5")
	otherSeed := runShards(t, spec, 2, "6")
	otherSpec := runShards(t, writeSpec(t, "name: tiny\nruns:\n  - {backend: sim, time-limit: 1s, repeat: 3}\n"), 2, "5")
	ofThree := runShards(t, spec, 3, "5")
	empty := t.TempDir()
	for _, c := range []struct {
		name string
		dirs []string
		want string
	}{
		{"another spec", []string{shards[0], otherSpec[1]}, "is not a shard of the campaign"},
		{"another campaign seed", []string{shards[0], otherSeed[1]}, "campaign seed 6, not 5"},
		{"another shard count", []string{shards[0], ofThree[1]}, "shard 2/3, not of 2 shards"},
		{"a shard twice", []string{shards[0], shards[1], shards[0]}, "overlapping shards"},
		{"no summary", []string{shards[0], empty}, "holds no campaign summary"},
		{"no directory", []string{shards[0], filepath.Join(empty, "nope")}, "no such file or directory"},
		{"no shards", nil, "merge --out DIR"},
	} {
		out := t.TempDir()
		code, msg := raftcheck(t, append([]string{"campaign", "merge", "--out", out}, c.dirs...)...)
		if code != exitHarness || !strings.Contains(msg, "raftcheck campaign: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: exit %d\n got %s\nwant %s", c.name, code, msg, c.want)
		}
		if _, err := os.Stat(filepath.Join(out, campaign.Dir)); err == nil {
			t.Errorf("%s: a merged campaign was written", c.name)
		}
	}
	// Both shards of the same campaign merge fine.
	if code, out := raftcheck(t, append([]string{"campaign", "merge", "--out", t.TempDir()}, shards...)...); code != exitValid {
		t.Errorf("good merge: exit %d\n%s", code, out)
	}
	// A run directory gone from a shard's store: refused before anything
	// is copied.
	sum, err := campaign.ReadSummary(mustGlob(t, filepath.Join(shards[1], campaign.Dir, "*", campaign.SummaryFile)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(shards[1], filepath.FromSlash(sum.Runs[0].Dir))); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, msg := raftcheck(t, append([]string{"campaign", "merge", "--out", out}, shards...)...)
	if left, _ := os.ReadDir(out); code != exitHarness || !strings.Contains(msg, "is not in the shard's results") || len(left) != 0 {
		t.Errorf("a run directory missing: exit %d, %d entries left in --out\n%s", code, len(left), msg)
	}
}

// raftcheck campaign -h documents sharding, the campaign seed and merge.
func TestCampaignHelpDocumentsSharding(t *testing.T) {
	for _, args := range [][]string{{"campaign", "-h"}, {"campaign", "merge", "-h"}} {
		code, out := raftcheck(t, args...)
		if code != exitValid {
			t.Errorf("%q: exit %d", args, code)
		}
		for _, s := range []string{"-shard", "-campaign-seed", "raftcheck campaign merge --out DIR", "Sharding"} {
			if !strings.Contains(out, s) {
				t.Errorf("%q lacks %q", args, s)
			}
		}
	}
}

// The nightly spec spreads over the workflow's 8 shards: every shard
// gets a docker run and its share of the sweep, and the sharding is the
// whole campaign.
func TestNightlySpreadsOverShards(t *testing.T) {
	_, runs, err := campaign.Load("../../campaigns/nightly.yaml", 1)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 1; i <= 8; i++ {
		mine, _ := campaign.Select(runs, campaign.Shard{Index: i, Count: 8})
		var docker, sweep int
		for _, r := range mine {
			if r.Config.Backend == "docker" {
				docker++
			}
			if r.Name == "sim-sweep" {
				sweep++
			}
		}
		if docker < 1 || docker > 2 || sweep != 250 {
			t.Errorf("shard %d/8: %d docker runs, %d sweep runs; want 1 or 2, and 250", i, docker, sweep)
		}
		total += len(mine)
	}
	if total != len(runs) {
		t.Errorf("8 shards hold %d runs of %d", total, len(runs))
	}
}

// mustGlob is the one file matching pattern.
func mustGlob(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s: %q, want one match", pattern, m)
	}
	return m[0]
}
