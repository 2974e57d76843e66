package mutants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sim outcomes of one mutant.
const (
	SimCaught   = "caught"   // a seed was not linearizable or broke a Raft invariant (exit 1)
	SimNotLive  = "not live" // a seed had no leader and write after the final heal (exit 4)
	SimCrash    = "crash"    // the harness failed on a seed (exit 3) or the process panicked
	SimSurvived = "survived" // every seed linearizable
	SimUnknown  = "unknown"  // every seed checked or timed out, none invalid (exit 2)
	// SimTimeout: the sim did not finish within Options.SimTimeout, far
	// longer than a healthy tree needs: a node livelocked (a
	// replica's Process loop that never empties spins in production too).
	// Counted as caught, and shown as such, so a reader can tell.
	SimTimeout = "timeout"
	SimSkipped = "skipped" // not run (Options.Seeds 0)
)

// Options configure a run of the corpus.
type Options struct {
	// Root is the module to mutate (it is copied, never changed).
	Root string
	// Seeds per mutant (from seed 1); 0 skips the simulator.
	Seeds   int
	Workers int
	// TimeLimit is each seed's simulated run, as raftcheck sim takes it.
	TimeLimit string
	// SimTimeout bounds one mutant's whole sim run in wall time.
	SimTimeout time.Duration
	// Units are the packages whose tests run against each mutant; none
	// skips the unit tests.
	Units []string
	// Go is the go command.
	Go string
	// Log receives progress lines.
	Log io.Writer
	// Done, if set, is called after each mutant with the results so far
	// (to store a long run as it goes).
	Done func([]Result)
}

// Result is what happened to one mutant.
type Result struct {
	Name string `json:"name"`
	Rule string `json:"rule"`
	File string `json:"file"`
	// Sim is one of the Sim* outcomes; FirstSeed the seed that caught it
	// (0 if none); SimSeconds the wall time of the sim run; SimDetail what
	// the failing seed did (broke a Raft invariant, ...), or the harness
	// error or panic.
	Sim        string  `json:"sim"`
	FirstSeed  uint64  `json:"first_seed,omitempty"`
	SimSeconds float64 `json:"sim_seconds"`
	SimDetail  string  `json:"sim_detail,omitempty"`
	// UnitFailures names the failing tests (or packages); empty: the unit
	// tests passed. UnitsRun is false when they were skipped.
	UnitsRun     bool     `json:"units_run"`
	UnitFailures []string `json:"unit_failures,omitempty"`
	// Error is set when the mutant could not be applied or built.
	Error string `json:"error,omitempty"`
	Note  string `json:"note,omitempty"`
	// Ablation, when made (raftmutants --ablate), says which network
	// features the sim's catch needed.
	Ablation *Ablation `json:"ablation,omitempty"`
}

// SimCaughtIt reports whether the simulator noticed the mutant.
func (r Result) SimCaughtIt() bool {
	return r.Sim == SimCaught || r.Sim == SimNotLive || r.Sim == SimCrash || r.Sim == SimTimeout
}

// Caught reports whether anything noticed the mutant.
func (r Result) Caught() bool { return r.SimCaughtIt() || len(r.UnitFailures) > 0 }

// Run applies each mutant in turn to a copy of opt.Root and runs the
// simulator and the unit tests against it.
func Run(ctx context.Context, ms []Mutant, opt Options) ([]Result, error) {
	if opt.Go == "" {
		opt.Go = "go"
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	tmp, err := os.MkdirTemp("", "raftcheck-mutants-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tree := Tree{Dir: filepath.Join(tmp, "src")}
	if err := CopyModule(opt.Root, tree.Dir); err != nil {
		return nil, err
	}
	var out []Result
	for i, m := range ms {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		fmt.Fprintf(opt.Log, "[%d/%d] %s (%s)\n", i+1, len(ms), m.Name, m.File)
		r, err := runOne(ctx, tree, tmp, m, opt)
		if err != nil {
			return out, err
		}
		fmt.Fprintf(opt.Log, "    sim %s%s, units %s\n", r.Sim, seedText(r), unitText(r))
		out = append(out, r)
		if opt.Done != nil {
			opt.Done(out)
		}
	}
	return out, nil
}

func runOne(ctx context.Context, tree Tree, tmp string, m Mutant, opt Options) (Result, error) {
	r := Result{Name: m.Name, Rule: m.Rule, File: m.File, Note: m.Note, Sim: SimSkipped}
	undo, err := tree.apply(m)
	if err != nil {
		r.Error = err.Error()
		return r, nil
	}
	defer undo.undo()
	if opt.Seeds > 0 {
		bin, failure := buildRaftcheck(ctx, tree, tmp, opt)
		if failure != "" {
			r.Error = failure
			return r, nil
		}
		r.Sim, r.FirstSeed, r.SimSeconds, r.SimDetail = runSim(ctx, bin, tmp, opt)
	}
	if len(opt.Units) > 0 {
		r.UnitsRun = true
		args := append([]string{"test", "-trimpath", "-timeout", "10m"}, opt.Units...)
		out, err := goCmd(ctx, tree.Dir, opt.Go, args...)
		if err != nil {
			r.UnitFailures = failedTests(out)
			if len(r.UnitFailures) == 0 {
				r.UnitFailures = []string{"(go test failed: " + lastLines(out, 2) + ")"}
			}
		}
	}
	if err := undo.undo(); err != nil {
		return r, fmt.Errorf("mutant %s: restore %s: %w", m.Name, m.File, err)
	}
	return r, ctx.Err()
}

// buildRaftcheck builds the tree's raftcheck into tmp; failure is the
// build's last lines if it failed.
func buildRaftcheck(ctx context.Context, tree Tree, tmp string, opt Options) (bin, failure string) {
	bin = filepath.Join(tmp, "raftcheck")
	if out, err := goCmd(ctx, tree.Dir, opt.Go, "build", "-trimpath", "-o", bin, "./cmd/raftcheck"); err != nil {
		return "", "build failed: " + lastLines(out, 5)
	}
	return bin, ""
}

var (
	// reVerdict matches raftcheck sim's line for its first failing seed.
	reVerdict = regexp.MustCompile(`seed (\d+) (is NOT linearizable|broke a Raft invariant|is NOT live)`)
	reSeedErr = regexp.MustCompile(`seed (\d+)`)
)

// runSim runs raftcheck sim and classifies its exit.
func runSim(ctx context.Context, bin, tmp string, opt Options) (string, uint64, float64, string) {
	sctx := ctx
	if opt.SimTimeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, opt.SimTimeout)
		defer cancel()
	}
	args := []string{"sim", "--seeds", strconv.Itoa(opt.Seeds), "--results", filepath.Join(tmp, "results")}
	if opt.Workers > 0 {
		args = append(args, "--workers", strconv.Itoa(opt.Workers))
	}
	if opt.TimeLimit != "" {
		args = append(args, "--time-limit", opt.TimeLimit)
	}
	cmd := exec.CommandContext(sctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // do not wait on children that keep the pipes
	start := time.Now()
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	code := 0
	var ee *exec.ExitError
	switch {
	case sctx.Err() != nil && ctx.Err() == nil:
		return SimTimeout, 0, secs, fmt.Sprintf("no verdict within %v", opt.SimTimeout)
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return SimCrash, 0, secs, err.Error()
	}
	errText := stderr.String()
	panicked := strings.Contains(errText, "panic:") || strings.Contains(errText, "fatal error:")
	switch {
	case code == 1:
		seed, how := verdictLine(stdout.String())
		return SimCaught, seed, secs, how
	case code == 4:
		seed, _ := verdictLine(stdout.String())
		how := "no leader and write after the final heal"
		if strings.Contains(stdout.String(), "stalled") {
			how = "its simulation stalled (a livelock)"
		}
		return SimNotLive, seed, secs, how
	case code == 3 || panicked:
		return SimCrash, firstSeed(reSeedErr, errText), secs, firstLine(errText)
	case code == 2:
		return SimUnknown, 0, secs, ""
	case code == 0:
		return SimSurvived, 0, secs, ""
	}
	return SimCrash, 0, secs, fmt.Sprintf("exit %d: %s", code, firstLine(errText))
}

// verdictLine returns the failing seed and what it did ("broke a Raft
// invariant"), so the table tells the checkers apart.
func verdictLine(s string) (uint64, string) {
	m := reVerdict.FindStringSubmatch(s)
	if m == nil {
		return 0, ""
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n, strings.TrimPrefix(m[2], "is ")
}

func firstSeed(re *regexp.Regexp, s string) uint64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

var reFail = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)|^FAIL\s+(\S+)\s`)

// failedTests lists failing top-level tests, or the failing packages of
// those whose tests did not get to report (a panic, a build failure).
func failedTests(out string) []string {
	var names []string
	seenPkgTest := false
	for _, m := range reFail.FindAllStringSubmatch(out, -1) {
		if m[1] != "" {
			seenPkgTest = true
			if !strings.Contains(m[1], "/") && !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	if !seenPkgTest {
		for _, m := range reFail.FindAllStringSubmatch(out, -1) {
			if m[2] != "" {
				names = append(names, "package "+m[2])
			}
		}
	}
	return names
}

func goCmd(ctx context.Context, dir, goBin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func seedText(r Result) string {
	if r.FirstSeed > 0 {
		return fmt.Sprintf(" (seed %d, %.0fs)", r.FirstSeed, r.SimSeconds)
	}
	if r.Error != "" {
		return " (" + r.Error + ")"
	}
	return fmt.Sprintf(" (%.0fs)", r.SimSeconds)
}

func unitText(r Result) string {
	switch {
	case !r.UnitsRun:
		return "skipped"
	case len(r.UnitFailures) == 0:
		return "pass"
	}
	return "fail: " + strings.Join(r.UnitFailures, ", ")
}
