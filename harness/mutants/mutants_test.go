package mutants

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const moduleRoot = "../.."

// Every mutant of the corpus still applies exactly once to the code as it
// is, and the mutated package still compiles: whoever changes node code
// keeps the corpus in step (see the package comment).
func TestCorpusApplies(t *testing.T) {
	ms, err := Load(filepath.Join(moduleRoot, "mutants"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 25 {
		t.Fatalf("the corpus has %d mutants, want at least 25", len(ms))
	}
	for _, m := range ms {
		src, err := os.ReadFile(filepath.Join(moduleRoot, m.File))
		if err != nil {
			t.Fatalf("mutant %s: %v", m.Name, err)
		}
		if _, err := m.Apply(src); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		return
	}
	pkgs := listPackages(t)
	for _, m := range ms {
		if err := typeCheck(pkgs, m); err != nil {
			t.Errorf("mutant %s does not compile: %v", m.Name, err)
		}
	}
}

// listedPackage is what go list tells about one package.
type listedPackage struct {
	ImportPath string
	Dir        string
	Export     string
	GoFiles    []string
}

// listPackages lists the node's packages and their dependencies with the
// compiler's export data, so a mutated package can be type-checked in
// process: as thorough as compiling it (mutants change no exported API,
// so no dependent can break) and far cheaper than a go build per mutant.
func listPackages(t *testing.T) map[string]listedPackage {
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Dir,Export,GoFiles", "./node/...")
	cmd.Dir = moduleRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// typeCheck type-checks the package of m with m applied.
func typeCheck(pkgs map[string]listedPackage, m Mutant) error {
	dir, err := filepath.Abs(filepath.Join(moduleRoot, filepath.Dir(m.File)))
	if err != nil {
		return err
	}
	var pkg *listedPackage
	for _, p := range pkgs {
		if p.Dir == dir {
			pkg = &p
			break
		}
	}
	if pkg == nil {
		return fmt.Errorf("no package in %s", dir)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range pkg.GoFiles {
		path := filepath.Join(dir, name)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if name == filepath.Base(m.File) {
			if src, err = m.Apply(src); err != nil {
				return err
			}
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		p, ok := pkgs[path]
		if !ok || p.Export == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(p.Export)
	})
	conf := types.Config{Importer: imp}
	_, err = conf.Check(pkg.ImportPath, fset, files, nil)
	return err
}

func TestApplyNeedsExactlyOneOccurrence(t *testing.T) {
	m := Mutant{Name: "x", File: "node/raft/a.go", Old: "a < b", New: "a <= b"}
	got, err := m.Apply([]byte("if a < b {}"))
	if err != nil || string(got) != "if a <= b {}" {
		t.Fatalf("Apply = %q, %v", got, err)
	}
	for _, src := range []string{"if a > b {}", "a < b; a < b"} {
		if _, err := m.Apply([]byte(src)); err == nil {
			t.Errorf("Apply(%q) succeeded; want an error", src)
		}
	}
}

func TestLoadRejectsBadMutants(t *testing.T) {
	for name, body := range map[string]string{
		"name-mismatch": "name: other\nrule: r\nfile: node/raft/log.go\nold: a\nnew: b\n",
		"no-rule":       "name: no-rule\nfile: node/raft/log.go\nold: a\nnew: b\n",
		"outside-node":  "name: outside-node\nrule: r\nfile: harness/sim/sim.go\nold: a\nnew: b\n",
		"test-file":     "name: test-file\nrule: r\nfile: node/raft/raft_test.go\nold: a\nnew: b\n",
		"same":          "name: same\nrule: r\nfile: node/raft/log.go\nold: a\nnew: a\n",
		"unknown-field": "name: unknown-field\nrule: r\nfile: node/raft/log.go\nold: a\nnew: b\nfoo: 1\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil {
			t.Errorf("%s: Load succeeded; want an error", name)
		}
	}
}

// Tabs in the block scalars are part of the snippet, as in Go source.
func TestLoadKeepsTabs(t *testing.T) {
	dir := t.TempDir()
	body := "name: tabs\nrule: r\nfile: node/raft/log.go\nold: |2-\n  \tif a {\n  \t\treturn\nnew: |2-\n  \tif b {\n  \t\treturn\n"
	if err := os.WriteFile(filepath.Join(dir, "tabs.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Old != "\tif a {\n\t\treturn" {
		t.Fatalf("Old = %q", ms[0].Old)
	}
}

func TestFailedTests(t *testing.T) {
	out := `--- FAIL: TestElection (0.01s)
    --- FAIL: TestElection/sub (0.00s)
FAIL
FAIL	github.com/raftcheck/raftcheck/node/raft	1.2s
--- FAIL: TestApply (0.00s)
ok  	github.com/raftcheck/raftcheck/node/kv	0.1s
`
	got := strings.Join(failedTests(out), ",")
	if got != "TestElection,TestApply" {
		t.Fatalf("failedTests = %q", got)
	}
	panicked := "panic: boom\nFAIL\tgithub.com/raftcheck/raftcheck/node/raft\t0.3s\n"
	if got := strings.Join(failedTests(panicked), ","); got != "package github.com/raftcheck/raftcheck/node/raft" {
		t.Fatalf("failedTests(panic) = %q", got)
	}
}

func TestCompareFailsOnlyWhenTheRateDrops(t *testing.T) {
	base := &Report{Results: []Result{{Name: "a", Sim: SimCaught}, {Name: "b", Sim: SimSurvived}}}
	base.Tally()
	swapped := &Report{Results: []Result{{Name: "a", Sim: SimSurvived}, {Name: "b", Sim: SimCaught}}}
	swapped.Tally()
	lost, err := Compare(swapped, base)
	if err != nil || len(lost) != 1 || lost[0] != "a" {
		t.Fatalf("swap: lost %v, err %v", lost, err)
	}
	worse := &Report{Results: []Result{{Name: "a", Sim: SimSurvived}, {Name: "b", Sim: SimSurvived, UnitsRun: true}}}
	worse.Tally()
	if _, err := Compare(worse, base); err == nil {
		t.Fatal("a lower catch rate passed")
	}
	units := &Report{Results: []Result{{Name: "a", UnitFailures: []string{"TestX"}}, {Name: "b"}}}
	units.Tally()
	if _, err := Compare(units, base); err != nil {
		t.Fatalf("a unit-test catch counts: %v", err)
	}
}

// runSim reads raftcheck sim's exit status and output as documented:
// 1 with the failing seed (not linearizable or an invariant), 4 not live,
// 3 or a panic as a crash, 2 unknown, 0 survived.
func TestRunSimClassifiesExits(t *testing.T) {
	for _, c := range []struct {
		script string
		want   string
		seed   uint64
	}{
		{"echo 'seed 7 is NOT linearizable; replay it with:'; exit 1", SimCaught, 7},
		{"echo 'seed 12 broke a Raft invariant; replay it with:'; exit 1", SimCaught, 12},
		{"echo 'seed 9 is NOT live after the final heal; replay it with:'; exit 4", SimNotLive, 9},
		{"echo 'seed 4 is NOT live (its simulation stalled); replay it with:'; exit 4", SimNotLive, 4},
		{"echo 'all 10 seeds linearizable'; exit 0", SimSurvived, 0},
		{"echo 'raftcheck sim: seed 4: node n1: boom' >&2; exit 3", SimCrash, 4},
		{"echo 'panic: index out of range' >&2; exit 2", SimCrash, 0},
		{"echo 'seed 3: check timed out (unknown)'; exit 2", SimUnknown, 0},
		{"sleep 5", SimTimeout, 0},
	} {
		bin := filepath.Join(t.TempDir(), "raftcheck")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+c.script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		got, seed, _, _ := runSim(context.Background(), bin, t.TempDir(), Options{Seeds: 10, SimTimeout: time.Second})
		if got != c.want || seed != c.seed {
			t.Errorf("%q: got %s seed %d, want %s seed %d", c.script, got, seed, c.want, c.seed)
		}
	}
}
