package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/campaign"
)

const campaignUsage = `usage: raftcheck campaign --spec FILE [--junit PATH] [--results DIR]

Runs the tests a YAML spec lists, one after another, each into the results
store as 'raftcheck test' would, and writes
DIR/campaigns/<UTC timestamp>/summary.json and index.html (rewritten after
every run), and with --junit a JUnit XML report (one testcase per run).

A spec:

  name: nightly                       # optional; default: the file's name
  defaults:                           # optional; every run inherits these
    backend: sim
    time-limit: 20s
  runs:
    - name: sim-sweep                 # optional; default: the test's name
      seed: 1000                      # optional; default: random, printed
      repeat: 200                     # seeds 1000..1199
    - name: stale-reads-caught
      unsafe: stale-reads
      expect: invalid                 # passes when the checker catches it

A run's keys are the flags of 'raftcheck test' (see raftcheck test -h),
with the same defaults and the same checks, less results (the campaign's):
backend, nodes, nemesis, time-limit, seed, unsafe, image, ... Besides them:
name, repeat (each repetition takes the next seed) and expect: valid (the
default) or invalid. Keys in defaults apply to every run that does not set
them; a docker-only key on a sim run is an error (unless inherited).

Exit status, the worst outcome first:
  1  a run failed: not linearizable, or expect: invalid and the bug went uncaught
  3  the harness failed on a run (the others still run), or the campaign was interrupted
  2  a check did not finish (unknown)
  0  every run got its expected verdict
Unlike Jepsen's test-all (crashed, then unknown, then invalid), a violation
found is never hidden behind another run's trouble: exit 1 means a bug.
A spec that does not parse or validate exits 3 before anything runs.

Flags:
`

// entryOptions are a spec entry's settings that TestConfig does not hold.
type entryOptions struct {
	docker     dockerFlags
	htmlAlways bool
}

func cmdCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck campaign", flag.ContinueOnError)
	specFile := fs.String("spec", "", "the campaign spec (YAML)")
	junit := fs.String("junit", "", "also write a JUnit XML report to this file")
	results := fs.String("results", "results", "directory of the results store")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), campaignUsage)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	if *specFile == "" {
		return exitHarness, fmt.Errorf("%w: --spec FILE is required", errUsage)
	}
	spec, runs, opts, err := loadCampaign(*specFile)
	if err != nil {
		return exitHarness, err
	}
	if *junit != "" {
		if err := os.MkdirAll(filepath.Dir(*junit), 0o755); err != nil {
			return exitHarness, fmt.Errorf("--junit: %w", err)
		}
	}
	started := time.Now()
	dir, err := harness.NewRunDir(*results, campaign.Dir, started)
	if err != nil {
		return exitHarness, err
	}
	sum := campaign.NewSummary(spec, *results, len(runs), started)
	write := func() error {
		if err := sum.Write(dir); err != nil {
			return err
		}
		if *junit != "" {
			return sum.WriteJUnit(*junit)
		}
		return nil
	}
	fmt.Fprintf(stdout, "raftcheck campaign %s: %d runs from %s\n  files:   %s\n", spec.Name, len(runs), *specFile, dir)
	for _, r := range runs {
		if r.SeedChosen {
			fmt.Fprintf(stdout, "  %s: no seed in the spec; chose %d%s\n", r.Name, r.Config.Seed, seedRange(r))
		}
	}
	if err := write(); err != nil {
		return exitHarness, err
	}

	width := len(fmt.Sprint(len(runs)))
	for i, r := range runs {
		if ctx.Err() != nil {
			break
		}
		o := opts[r.Entry]
		// A docker run shows its progress (minutes of it); a simulated
		// one takes a moment and says nothing until its line.
		out := io.Discard
		if r.Config.Backend == "docker" {
			out = stdout
		}
		start := time.Now()
		res, runDir, err := runTest(ctx, r.Config, o.docker, *results, o.htmlAlways, out)
		rec := campaign.NewRecord(r, *results, start, time.Since(start), res, runDir, err)
		sum.Add(rec)
		fmt.Fprintf(stdout, "[%*d/%d] %s\n", width, i+1, len(runs), runLine(rec, runDir))
		if err := write(); err != nil {
			return exitHarness, err
		}
	}
	interrupted := ctx.Err() != nil
	sum.Finish(time.Now(), interrupted)
	if err := write(); err != nil {
		return exitHarness, err
	}
	printCampaign(stdout, sum, dir, *junit)
	return sum.ExitCode, nil
}

// loadCampaign parses and plans a spec: every run's configuration is
// resolved and validated before anything runs.
func loadCampaign(file string) (*campaign.Spec, []campaign.Run, []entryOptions, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read spec: %w", err)
	}
	spec, err := campaign.Parse(file, data, specKeys())
	if err != nil {
		return nil, nil, nil, err
	}
	opts := make([]entryOptions, len(spec.Entries))
	runs, err := spec.Plan(func(i int, e campaign.Entry) (campaign.Resolved, error) {
		r, o, err := resolveEntry(e)
		opts[i] = o
		return r, err
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return spec, runs, opts, nil
}

// newEntryFlags defines the flags of raftcheck test, which are the keys
// of a spec's runs.
func newEntryFlags() (*flag.FlagSet, *testFlags, *dockerFlags) {
	fs := flag.NewFlagSet("campaign run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := newTestFlags(fs, "docker", 60*time.Second)
	df := newDockerFlags(fs)
	return fs, f, df
}

// specKeys are the flags a spec's run may set: those of raftcheck test,
// less --results, which is the campaign's.
func specKeys() []string {
	fs, _, _ := newEntryFlags()
	var keys []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "results" {
			keys = append(keys, f.Name)
		}
	})
	return keys
}

// resolveEntry sets an entry's settings on the flags of raftcheck test,
// in order (a later one overrides), and validates the result with the
// same messages as the command line.
func resolveEntry(e campaign.Entry) (campaign.Resolved, entryOptions, error) {
	fs, f, df := newEntryFlags()
	last := map[string]campaign.Setting{}
	for _, s := range e.Settings {
		if err := fs.Set(s.Key, s.Value); err != nil {
			return campaign.Resolved{}, entryOptions{}, campaign.AtLine(s.Line,
				fmt.Errorf("invalid value %q for %s: %w", s.Value, s.Key, err))
		}
		last[s.Key] = s
	}
	if err := f.complete(""); err != nil {
		return campaign.Resolved{}, entryOptions{}, err
	}
	r := campaign.Resolved{Config: f.cfg, SeedGiven: f.seedSet}
	r.Config.Name = testName(f.cfg)
	// The flags ReplayCommand leaves out that change a run: the replay
	// command carries them when the spec sets them.
	for _, key := range []string{"check-timeout", "image", "election-timeout", "nemesis-interval", "client-timeout"} {
		s, ok := last[key]
		if !ok {
			continue
		}
		if isDockerOnly(key) && f.cfg.Backend != "docker" {
			if !s.Inherited {
				return r, entryOptions{}, campaign.AtLine(s.Line,
					fmt.Errorf("%s applies only to backend docker; this run's backend is %s", key, f.cfg.Backend))
			}
			continue
		}
		r.ReplayArgs = append(r.ReplayArgs, "--"+key, shellQuote(s.Value))
	}
	return r, entryOptions{docker: *df, htmlAlways: f.htmlAlways}, nil
}

// isDockerOnly reports whether a flag is one of newDockerFlags'.
func isDockerOnly(name string) bool {
	switch name {
	case "image", "election-timeout", "nemesis-interval", "client-timeout":
		return true
	}
	return false
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func seedRange(r campaign.Run) string {
	if r.Repeat == 1 {
		return ""
	}
	return fmt.Sprintf(" (its %d runs take seeds %d..%d)", r.Repeat, r.Config.Seed, r.Config.Seed+uint64(r.Repeat-1))
}

// runLine is a run's line of progress.
func runLine(r campaign.Record, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", r.Label)
	switch r.Outcome {
	case campaign.Error:
		fmt.Fprintf(&b, "HARNESS ERROR: %s", r.Error)
	case campaign.Pass:
		fmt.Fprintf(&b, "%s", r.Verdict)
		if r.Expect != "valid" {
			fmt.Fprintf(&b, " as expected")
		}
	default:
		fmt.Fprintf(&b, "%s", strings.ToUpper(r.Verdict))
		if r.Outcome == campaign.Fail {
			fmt.Fprintf(&b, " (expected %s)", r.Expect)
		}
	}
	if r.Outcome != campaign.Error {
		fmt.Fprintf(&b, "  %d ok %d fail %d info", r.Counts.OK, r.Counts.Fail, r.Counts.Info)
	}
	fmt.Fprintf(&b, "  %v", time.Duration(r.Duration).Round(10*time.Millisecond))
	if dir != "" {
		fmt.Fprintf(&b, "  %s", dir)
	}
	if r.Outcome != campaign.Pass {
		fmt.Fprintf(&b, "\n    replay: %s", r.Replay)
	}
	return b.String()
}

// printCampaign prints the closing summary: totals, the runs that did not
// pass with their replay commands, and where the files are.
func printCampaign(w io.Writer, s *campaign.Summary, dir, junit string) {
	t := s.Totals
	fmt.Fprintf(w, "\ncampaign %s: %d of %d runs in %v: %d passed, %d failed, %d unknown, %d harness errors\n",
		s.Name, len(s.Runs), s.Planned, time.Duration(s.Duration).Round(time.Millisecond), t.Pass, t.Fail, t.Unknown, t.Error)
	if s.Interrupted {
		fmt.Fprintf(w, "  INTERRUPTED: %d runs did not run\n", s.Planned-len(s.Runs))
	}
	bad := slices.DeleteFunc(slices.Clone(s.Runs), func(r campaign.Record) bool { return r.Outcome == campaign.Pass })
	for _, r := range bad {
		what := r.Verdict
		if r.Outcome == campaign.Error {
			what = "harness error"
		}
		fmt.Fprintf(w, "  %s %s (%s)\n    replay: %s\n", strings.ToUpper(string(r.Outcome)), r.Label, what, r.Replay)
	}
	fmt.Fprintf(w, "  summary: %s\n  index:   %s\n", filepath.Join(dir, campaign.SummaryFile), filepath.Join(dir, campaign.IndexFile))
	if junit != "" {
		fmt.Fprintf(w, "  junit:   %s\n", junit)
	}
	fmt.Fprintf(w, "  exit %d\n", s.ExitCode)
}
