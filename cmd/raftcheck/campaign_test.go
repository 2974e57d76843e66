package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/harness/campaign"
)

// writeSpec writes a spec file into a fresh directory.
func writeSpec(t *testing.T, spec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// campaignFiles runs a campaign and returns its exit status, output,
// summary and JUnit report.
func campaignFiles(t *testing.T, spec string) (int, string, *campaign.Summary, campaign.JUnitSuites, string) {
	t.Helper()
	results := t.TempDir()
	junit := filepath.Join(results, "junit", "junit.xml")
	code, out := raftcheck(t, "campaign", "--spec", writeSpec(t, spec), "--results", results, "--junit", junit)
	dirs, _ := filepath.Glob(filepath.Join(results, campaign.Dir, "*", campaign.SummaryFile))
	if len(dirs) != 1 {
		t.Fatalf("exit %d, want one campaign summary, found %q\n%s", code, dirs, out)
	}
	sum, err := campaign.ReadSummary(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc campaign.JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b)
	}
	if len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != len(sum.Runs) {
		t.Fatalf("JUnit: want one suite with a case per run:\n%s", b)
	}
	return code, out, sum, doc, results
}

// Stale reads at seed 1 over 5 simulated seconds are caught; seed 3 of
// the safe build is linearizable. (Runs are deterministic.)
const twoEntries = `name: e2e
defaults:
  backend: sim
  time-limit: 5s
  nodes: 5
runs:
  - name: safe
    seed: 3
    repeat: 2
  - name: stale-reads-caught
    unsafe: stale-reads
    seed: 1
    expect: invalid
`

func TestCampaignExpectedViolationPasses(t *testing.T) {
	code, out, sum, doc, results := campaignFiles(t, twoEntries)
	if code != exitValid {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	if !sum.Done || sum.Planned != 3 || sum.Totals != (campaign.Totals{Pass: 3}) {
		t.Errorf("summary: done=%v planned=%d totals=%+v", sum.Done, sum.Planned, sum.Totals)
	}
	want := []struct {
		label, verdict string
	}{{"safe seed 3", "valid"}, {"safe seed 4", "valid"}, {"stale-reads-caught seed 1", "invalid"}}
	for i, r := range sum.Runs {
		if r.Label != want[i].label || r.Verdict != want[i].verdict || r.Outcome != campaign.Pass {
			t.Errorf("run %d: %s %s %s", i, r.Label, r.Verdict, r.Outcome)
		}
		if _, err := os.Stat(filepath.Join(results, filepath.FromSlash(r.Dir), "test.json")); err != nil {
			t.Errorf("run %d: its directory %q: %v", i, r.Dir, err)
		}
		if r.Counts.OK == 0 || r.Duration <= 0 || !strings.Contains(r.Replay, "--backend sim") {
			t.Errorf("run %d: counts %+v duration %v replay %q", i, r.Counts, r.Duration, r.Replay)
		}
	}
	if s := doc.Suites[0]; s.Tests != 3 || s.Failures != 0 || s.Errors != 0 {
		t.Errorf("JUnit suite: %d tests, %d failures, %d errors", s.Tests, s.Failures, s.Errors)
	}
	index, _ := filepath.Glob(filepath.Join(results, campaign.Dir, "*", campaign.IndexFile))
	page, err := os.ReadFile(index[0])
	if err != nil {
		t.Fatal(err)
	}
	link := `href="../../` + sum.Runs[2].Dir + `/history.html"`
	if !strings.Contains(string(page), link) || !strings.Contains(string(page), "all 3 runs passed") {
		t.Errorf("index.html lacks %s or its status", link)
	}
	if !strings.Contains(out, "[3/3] stale-reads-caught seed 1: invalid as expected") {
		t.Errorf("no line for the caught run:\n%s", out)
	}
}

// Without expect: invalid, the same violation fails the campaign: exit 1
// and a JUnit failure carrying the verdict, the replay and the report.
func TestCampaignViolationFails(t *testing.T) {
	spec := strings.Replace(twoEntries, "    expect: invalid\n", "", 1)
	code, out, sum, doc, results := campaignFiles(t, spec)
	if code != exitInvalid || sum.ExitCode != exitInvalid {
		t.Fatalf("exit %d (summary %d), want 1\n%s", code, sum.ExitCode, out)
	}
	s := doc.Suites[0]
	if s.Failures != 1 || s.Errors != 0 {
		t.Fatalf("JUnit: %d failures, %d errors; want 1, 0", s.Failures, s.Errors)
	}
	f := s.Cases[2].Failure
	report := filepath.ToSlash(filepath.Join(results, sum.Runs[2].Dir, "index.html"))
	if f == nil || f.Type != "invalid" || !strings.Contains(f.Text, "replay: raftcheck test --backend sim") ||
		!strings.Contains(f.Text, "--seed 1 --unsafe stale-reads") || !strings.Contains(f.Text, "report: "+report) {
		t.Errorf("failure: %+v", f)
	}
	if !strings.Contains(out, "FAIL stale-reads-caught seed 1 (invalid)") {
		t.Errorf("closing summary does not name the failure:\n%s", out)
	}
}

// A run the harness fails on is recorded and the campaign goes on: exit 3,
// or 1 when another run is invalid; a check that times out is unknown.
func TestCampaignHarnessErrorAndUnknown(t *testing.T) {
	spec := `defaults: {backend: sim, time-limit: 5s}
runs:
  - {name: timeout, seed: 3, check-timeout: 1ns}
  - {name: blocked, seed: 3, unsafe: no-dedup}
  - {name: fine, seed: 3}
`
	results := t.TempDir()
	// A file where the blocked run's test directory should go.
	if err := os.WriteFile(filepath.Join(results, "raftnode-register-sim-unsafe-no-dedup"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(results, "junit.xml")
	code, out := raftcheck(t, "campaign", "--spec", writeSpec(t, spec), "--results", results, "--junit", junit)
	if code != exitHarness {
		t.Fatalf("exit %d, want 3\n%s", code, out)
	}
	for _, s := range []string{"timeout seed 3: UNKNOWN", "blocked seed 3: HARNESS ERROR", "[3/3] fine seed 3: valid"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	b, _ := os.ReadFile(junit)
	var doc campaign.JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Failures != 1 || doc.Errors != 1 {
		t.Errorf("JUnit (%v): %d failures, %d errors; want 1, 1", err, doc.Failures, doc.Errors)
	}

	spec = strings.Replace(spec, "{name: fine, seed: 3}", "{name: bug, seed: 1, unsafe: stale-reads}", 1)
	if code, out := raftcheck(t, "campaign", "--spec", writeSpec(t, spec), "--results", results); code != exitInvalid {
		t.Errorf("with an invalid run too: exit %d, want 1\n%s", code, out)
	}
	spec = "runs:\n  - {backend: sim, time-limit: 5s, seed: 3, check-timeout: 1ns}\n"
	if code, out := raftcheck(t, "campaign", "--spec", writeSpec(t, spec), "--results", results); code != exitUnknown {
		t.Errorf("only an unknown: exit %d, want 2\n%s", code, out)
	}
}

// A bad spec exits 3 before anything runs, its message naming the line
// and, for a bad value, worded as the flag's.
func TestCampaignBadSpec(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"runs:\n  - backend: sim\n    nodez: 3\n", `spec.yaml:3: unknown key "nodez" in a run; a run takes name, repeat, expect and the flags of raftcheck test: `},
		{"runs:\n  - backend: sim\n    nodes: 0\n", `spec.yaml:2: run #1: --nodes 0: want 1 to 9`},
		{"runs:\n  - backend: sim\n    time-limit: soon\n", `spec.yaml:3: run #1: invalid value "soon" for time-limit: parse error`},
		{"runs:\n  - name: x\n    backend: sim\n    nemesis: [partition, flood]\n", `spec.yaml:2: run "x": --nemesis: unknown nemesis "flood"`},
		{"runs:\n  - backend: sim\n    unsafe: sloppy\n", `spec.yaml:2: run #1: --unsafe: `},
		{"runs:\n  - backend: sim\n    image: x:1\n", `spec.yaml:3: run #1: image applies only to backend docker`},
		{"runs:\n  - backend: sim\n    within: 5\n", `within: a search for a failing seed; it needs expect: invalid`},
		{"runs:\n  - backend: docker\n    expect: invalid\n    within: 5\n", `within: searches seeds in the simulator`},
		{"runs:\n  - backend: sim\n    results: elsewhere\n", `spec.yaml:3: unknown key "results"`},
	} {
		results := t.TempDir()
		code, out := raftcheck(t, "campaign", "--spec", writeSpec(t, c.spec), "--results", results)
		if code != exitHarness || !strings.Contains(out, "raftcheck campaign: ") || !strings.Contains(out, c.want) {
			t.Errorf("spec %q: exit %d\n got %s\nwant %s", c.spec, code, out, c.want)
		}
		if _, err := os.Stat(filepath.Join(results, campaign.Dir)); err == nil {
			t.Errorf("spec %q: a campaign directory was written", c.spec)
		}
	}
	for _, args := range [][]string{{"campaign"}, {"campaign", "--spec", "/does/not/exist.yaml"}, {"campaign", "--spek", "x"}} {
		if code, out := raftcheck(t, args...); code != exitHarness {
			t.Errorf("%q: exit %d, want 3\n%s", args, code, out)
		}
	}
}

// The specs kept in the repository parse and validate.
func TestRepoCampaignSpecs(t *testing.T) {
	specs, _ := filepath.Glob("../../campaigns/*.yaml")
	if len(specs) < 2 {
		t.Fatalf("want campaigns/nightly.yaml and smoke.yaml, found %q", specs)
	}
	for _, f := range specs {
		spec, runs, err := campaign.Load(f, 1)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		t.Logf("%s: %d entries, %d runs", spec.Name, len(spec.Entries), len(runs))
	}
}

// A within: search passes when one of its seeds is caught, stores that
// seed's run, and fails with a note when none is.
func TestCampaignWithinSearch(t *testing.T) {
	spec := `name: search
defaults:
  backend: sim
  time-limit: 5s
runs:
  - name: caught
    unsafe: stale-reads
    seed: 1
    within: 5
    expect: invalid
  - name: missed
    seed: 1
    within: 2
    expect: invalid
`
	code, out, sum, _, results := campaignFiles(t, spec)
	if code != exitInvalid || len(sum.Runs) != 2 {
		t.Fatalf("exit %d, %d runs; want 1 (the missed search) and 2 runs\n%s", code, len(sum.Runs), out)
	}
	caught, missed := sum.Runs[0], sum.Runs[1]
	if caught.Outcome != campaign.Pass || caught.Verdict != "invalid" || caught.Label != "caught seeds 1..5" {
		t.Errorf("caught: %+v", caught)
	}
	if _, err := os.Stat(filepath.Join(results, filepath.FromSlash(caught.Dir), "history.html")); err != nil {
		t.Errorf("the caught seed's run was not stored: %v", err)
	}
	if missed.Outcome != campaign.Fail || missed.Dir != "" || !strings.Contains(strings.Join(missed.Notes, " "), "no invalid seed among 2") {
		t.Errorf("missed: %+v", missed)
	}
}

// shrink: true stores a shrunk run beside a failing simulated one and
// links it from the summary and its index.
func TestCampaignShrinksFailures(t *testing.T) {
	spec := `name: shrink
runs:
  - name: stale
    backend: sim
    time-limit: 10s
    unsafe: stale-reads
    seed: 1
    shrink: true
`
	code, out, sum, _, results := campaignFiles(t, spec)
	if code != exitInvalid || len(sum.Runs) != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	r := sum.Runs[0]
	if r.Shrunk == "" || r.Shrunk == r.Dir {
		t.Fatalf("no shrunk run recorded: %+v", r)
	}
	// The shrunk run replays from its test.json and fails the same way.
	if code, out := raftcheck(t, "test", "--replay", filepath.Join(results, filepath.FromSlash(r.Shrunk)), "--results", t.TempDir()); code != exitInvalid {
		t.Fatalf("replay of the shrunk run: exit %d\n%s", code, out)
	}
	if !strings.Contains(strings.Join(r.Notes, " "), "shrunk from") {
		t.Errorf("no shrink note: %v", r.Notes)
	}
}
