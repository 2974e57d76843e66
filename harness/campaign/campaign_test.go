package campaign

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// flagNames stand for the flags of raftcheck test.
func flagNames() []string {
	return []string{"backend", "nodes", "nemesis", "time-limit", "seed", "unsafe", "image"}
}

const goodSpec = `name: smoke
defaults:
  backend: sim
  time-limit: 20s
  repeat: 2
runs:
  - name: sweep
    seed: 100
    repeat: 3
  - nodes: 3
    nemesis: [partition, kill]
    time-limit: 5s
  - name: caught
    unsafe: stale-reads
    expect: invalid
`

func TestParseDefaultsRepeatExpect(t *testing.T) {
	spec, err := Parse("smoke.yaml", []byte(goodSpec), flagNames())
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "smoke" || len(spec.Entries) != 3 {
		t.Fatalf("spec %q with %d entries", spec.Name, len(spec.Entries))
	}
	e := spec.Entries[1]
	if e.Name != "" || e.Line != 10 || e.Repeat != 2 || e.Expect != checker.Valid {
		t.Errorf("entry 2: %+v", e)
	}
	want := []Setting{{"backend", "sim", 3, true}, {"time-limit", "20s", 4, true},
		{"nodes", "3", 10, false}, {"nemesis", "partition,kill", 11, false}, {"time-limit", "5s", 12, false}}
	if fmt.Sprint(e.Settings) != fmt.Sprint(want) {
		t.Errorf("entry 2 settings\n got %v\nwant %v", e.Settings, want)
	}
	if spec.Entries[0].Repeat != 3 || spec.Entries[2].Expect != checker.Invalid {
		t.Errorf("repeat or expect not read: %+v", spec.Entries)
	}
}

// fakeResolve reads the settings the way the command line would: later
// overrides earlier; a seed left out is "random" (42).
func fakeResolve(_ int, e Entry) (Resolved, error) {
	r := Resolved{Config: store.TestConfig{Name: "t", Backend: "docker", Nodes: 5, Seed: 42}}
	for _, s := range e.Settings {
		switch s.Key {
		case "backend":
			r.Config.Backend = s.Value
		case "unsafe":
			r.Config.Unsafe = s.Value
		case "nodes":
			n, err := strconv.Atoi(s.Value)
			if err != nil || n < 1 {
				return r, AtLine(s.Line, fmt.Errorf("--nodes %s: want 1 to 9", s.Value))
			}
			r.Config.Nodes = n
		case "seed":
			n, err := strconv.ParseUint(s.Value, 10, 64)
			if err != nil {
				return r, AtLine(s.Line, err)
			}
			r.Config.Seed, r.SeedGiven = n, true
		}
	}
	return r, nil
}

func TestPlanRepeatSeeds(t *testing.T) {
	spec, err := Parse("smoke.yaml", []byte(goodSpec), flagNames())
	if err != nil {
		t.Fatal(err)
	}
	runs, err := spec.Plan(fakeResolve)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%s/%d/%d/%v/%s", r.Label(), r.Rep, r.Repeat, r.SeedChosen, r.Expect))
	}
	want := []string{
		"sweep seed 100/1/3/false/valid", "sweep seed 101/2/3/false/valid", "sweep seed 102/3/3/false/valid",
		"t seed 42/1/2/true/valid", "t seed 43/2/2/false/valid",
		"caught seed 42/1/2/true/invalid", "caught seed 43/2/2/false/invalid",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := runs[1]; !strings.Contains(r.Replay, "--seed 101") || !strings.Contains(r.Replay, "--backend sim") {
		t.Errorf("replay of the second run: %s", r.Replay)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"runs:\n  - backend: sim\n    time_limit: 5s\n", `bad.yaml:3: unknown key "time_limit" in a run (did you mean "time-limit"?)`},
		{"runs:\n  - backend: sim\n    flood: yes\n", `bad.yaml:3: unknown key "flood" in a run; a run takes name, repeat, expect and the flags of raftcheck test: backend, nodes`},
		{"defaults:\n  colour: red\nruns:\n  - backend: sim\n", `bad.yaml:2: unknown key "colour" in the defaults`},
		{"name: x\nrun:\n  - backend: sim\n", `bad.yaml:2: unknown key "run"; a campaign spec has name, defaults and runs`},
		{"runs:\n  - backend: sim\n    repeat: 0\n", `bad.yaml:3: repeat "0": want how many seeds to run`},
		{"runs:\n  - backend: sim\n    expect: crash\n", `bad.yaml:3: expect "crash": want valid (the default) or invalid`},
		{"runs:\n  - backend: sim\n    backend: docker\n", `bad.yaml:3: key "backend" given twice (first on line 2)`},
		{"runs:\n  - name: a\n  - name: a\n", `bad.yaml:3: name "a" is taken by the run on line 2`},
		{"runs:\n  - nodes: {five: 5}\n", `bad.yaml:2: nodes: want a value`},
		{"runs: []\n", `bad.yaml:1: runs: want a list of runs`},
		{"name: x\n", `bad.yaml:1: no runs`},
		{"", `bad.yaml: the spec is empty`},
		{"runs:\n  - backend: [sim\n", `bad.yaml: yaml: line `},
	} {
		_, err := Parse("bad.yaml", []byte(c.spec), flagNames())
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("spec %q:\n got %v\nwant %s...", c.spec, err, c.want)
		}
	}
}

func TestPlanBadValueNamesTheLine(t *testing.T) {
	spec, err := Parse("bad.yaml", []byte("runs:\n  - name: ok\n  - name: small\n    nodes: 0\n  - seed: x\n"), flagNames())
	if err != nil {
		t.Fatal(err)
	}
	_, err = spec.Plan(fakeResolve)
	want := "bad.yaml:4: run \"small\": --nodes 0: want 1 to 9\nbad.yaml:5: run #3: "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v\nwant %s...", err, want)
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != 4 {
		t.Errorf("not a LineError at line 4: %#v", err)
	}
}

func TestExitCodeOrder(t *testing.T) {
	for _, c := range []struct {
		t           Totals
		interrupted bool
		want        int
	}{
		{Totals{Pass: 3}, false, 0},
		{Totals{Pass: 3, Unknown: 1}, false, 2},
		{Totals{Unknown: 1, Error: 1}, false, 3},
		{Totals{Pass: 1}, true, 3},
		{Totals{Fail: 1, Error: 1, Unknown: 1}, true, 1},
	} {
		if got := c.t.ExitCode(c.interrupted); got != c.want {
			t.Errorf("%+v interrupted=%v: exit %d, want %d", c.t, c.interrupted, got, c.want)
		}
	}
	if Judge(checker.Invalid, checker.Invalid) != Pass || Judge(checker.Invalid, checker.Valid) != Fail ||
		Judge(checker.Valid, checker.Unknown) != Unknown {
		t.Error("Judge")
	}
}

// The files of a campaign of four runs, one of each outcome.
func TestSummaryFiles(t *testing.T) {
	root := t.TempDir()
	spec := &Spec{File: "x.yaml", Name: "x"}
	sum := NewSummary(spec, root, 4, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg := store.TestConfig{Name: "raftnode-register-sim", Backend: "sim", Nodes: 3}
	run := func(seed uint64, expect checker.Verdict) Run {
		c := cfg
		c.Seed = seed
		return Run{Name: "r", Rep: 1, Repeat: 1, Expect: expect, Config: c, Replay: c.ReplayCommand()}
	}
	dir := filepath.Join(root, "raftnode-register-sim", "20260102T030405Z")
	sum.Add(NewRecord(run(1, checker.Valid), store.TestConfig{}, root, time.Now(), time.Second, store.RunResult{Verdict: checker.Valid}, dir, nil))
	sum.Add(NewRecord(run(2, checker.Valid), store.TestConfig{}, root, time.Now(), time.Second,
		store.RunResult{Verdict: checker.Invalid, HTML: "history.html", FailingKeys: []string{"k1"}}, dir+"-2", nil))
	sum.Add(NewRecord(run(3, checker.Invalid), store.TestConfig{}, root, time.Now(), time.Second, store.RunResult{Verdict: checker.Unknown}, dir+"-3", nil))
	sum.Add(NewRecord(run(4, checker.Valid), store.TestConfig{}, root, time.Now(), time.Second, store.RunResult{}, "", errors.New("no docker <engine>")))
	sum.Finish(sum.StartedAt.Add(time.Minute), false)
	if sum.ExitCode != ExitInvalid || sum.Totals != (Totals{1, 1, 1, 1}) {
		t.Fatalf("exit %d totals %+v", sum.ExitCode, sum.Totals)
	}
	cdir := t.TempDir()
	if err := sum.Write(cdir); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSummary(filepath.Join(cdir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if back.Runs[1].Dir != "raftnode-register-sim/20260102T030405Z-2" || back.Runs[3].Verdict != "" || back.Runs[3].Outcome != Error {
		b, _ := json.MarshalIndent(back.Runs, "", " ")
		t.Errorf("summary runs:\n%s", b)
	}
	page, err := os.ReadFile(filepath.Join(cdir, IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`href="../../raftnode-register-sim/20260102T030405Z-2/index.html"`,
		`href="../../raftnode-register-sim/20260102T030405Z-2/history.html"`, `class="invalid"`,
		"no docker &lt;engine&gt;", "3 of 4 runs did not pass (exit 1)"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("index.html lacks %s", s)
		}
	}

	b, err := sum.JUnit()
	if err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b)
	}
	s := doc.Suites[0]
	if len(doc.Suites) != 1 || s.Tests != 4 || s.Failures != 2 || s.Errors != 1 || len(s.Cases) != 4 {
		t.Fatalf("suite: %+v", s)
	}
	f := s.Cases[1].Failure
	if f == nil || f.Type != "invalid" || !strings.Contains(f.Text, "replay: raftcheck test --backend sim") ||
		!strings.Contains(f.Text, "report: "+filepath.ToSlash(root)+"/raftnode-register-sim/20260102T030405Z-2/index.html") {
		t.Errorf("failure of the invalid run: %+v", f)
	}
	if s.Cases[0].Failure != nil || s.Cases[2].Failure == nil || s.Cases[3].Error == nil {
		t.Errorf("cases: %+v", s.Cases)
	}
}
