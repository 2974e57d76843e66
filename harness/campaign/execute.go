package campaign

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

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/runner"
	"github.com/raftcheck/raftcheck/harness/shrink"
	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Load parses and plans a spec file: every run's configuration is
// resolved from its keys, as `raftcheck test` resolves its flags, and
// validated before anything runs. An entry without a seed gets
// EntrySeed(campaignSeed, its index).
func Load(file string, campaignSeed uint64) (*Spec, []Run, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read spec: %w", err)
	}
	spec, err := Parse(file, data, runner.SpecKeys())
	if err != nil {
		return nil, nil, err
	}
	spec.Seed = campaignSeed
	runs, err := spec.Plan(func(i int, e Entry) (Resolved, error) { return resolveEntry(e, EntrySeed(campaignSeed, i)) })
	if err != nil {
		return nil, nil, err
	}
	return spec, runs, nil
}

// resolveEntry sets an entry's settings on the flags of raftcheck test,
// in order (a later one overrides), and validates the result with the
// same messages as the command line. seed is the entry's seed when its
// settings give none.
func resolveEntry(e Entry, seed uint64) (Resolved, error) {
	fs := flag.NewFlagSet("campaign run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := runner.NewFlags(fs, "docker", 60*time.Second)
	var image *Setting
	seedGiven := slices.ContainsFunc(e.Settings, func(s Setting) bool { return s.Key == "seed" })
	if !seedGiven {
		if err := fs.Set("seed", fmt.Sprint(seed)); err != nil {
			return Resolved{}, fmt.Errorf("seed %d: %w", seed, err)
		}
	}
	for _, s := range e.Settings {
		if err := fs.Set(s.Key, s.Value); err != nil {
			return Resolved{}, AtLine(s.Line, fmt.Errorf("invalid value %q for %s: %w", s.Value, s.Key, err))
		}
		if s.Key == "image" {
			image = &s
		}
	}
	req, err := f.Request()
	if err != nil {
		return Resolved{}, err
	}
	if image != nil && req.Config.Backend != "docker" {
		if !image.Inherited {
			return Resolved{}, AtLine(image.Line, fmt.Errorf("image applies only to backend docker; this run's backend is %s", req.Config.Backend))
		}
		req.Image = ""
	}
	return Resolved{Config: req.Config, SeedGiven: seedGiven, Image: req.Image}, nil
}

// Options say where a campaign's files go and what it prints.
type Options struct {
	Results string    // the results store
	JUnit   string    // also write a JUnit report here, if set
	Out     io.Writer // progress lines and docker runs' progress
	// Shard, when set, says the runs are one shard of the campaign
	// (Select); the summary records it for Merge.
	Shard *Shard
}

// Execute runs a planned campaign, one run after another, each into the
// results store, and writes RESULTS/campaigns/<UTC timestamp>/summary.json
// and index.html after every run (and the JUnit report). It returns the
// summary and its directory; an error means the files could not be
// written.
func Execute(ctx context.Context, spec *Spec, runs []Run, opts Options) (*Summary, string, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.JUnit != "" {
		if err := os.MkdirAll(filepath.Dir(opts.JUnit), 0o755); err != nil {
			return nil, "", fmt.Errorf("--junit: %w", err)
		}
	}
	started := time.Now()
	dir, err := store.NewRunDir(opts.Results, Dir, started)
	if err != nil {
		return nil, "", err
	}
	sum := NewSummary(spec, opts.Results, len(runs), started)
	sum.Shard = opts.Shard
	write := func() error {
		if err := sum.Write(dir); err != nil {
			return err
		}
		if opts.JUnit != "" {
			return sum.WriteJUnit(opts.JUnit)
		}
		return nil
	}
	out := opts.Out
	if opts.Shard != nil {
		fmt.Fprintf(out, "raftcheck campaign %s: shard %v, %d of the campaign's %d runs, from %s\n", spec.Name, *opts.Shard, len(runs), opts.Shard.CampaignRuns, spec.File)
	} else {
		fmt.Fprintf(out, "raftcheck campaign %s: %d runs from %s\n", spec.Name, len(runs), spec.File)
	}
	fmt.Fprintf(out, "  files:   %s\n  campaign seed %d (the seeds the spec leaves out; --campaign-seed %d runs them again)\n", dir, spec.Seed, spec.Seed)
	for _, r := range runs {
		if r.SeedChosen {
			fmt.Fprintf(out, "  %s: no seed in the spec; from the campaign seed: %d%s\n", r.Name, r.Config.Seed, seedRange(r))
		}
	}
	if err := write(); err != nil {
		return sum, dir, err
	}
	width := len(fmt.Sprint(len(runs)))
	for i, r := range runs {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		rec := execute(ctx, r, opts)
		rec.StartedAt, rec.Duration = start.UTC(), store.Duration(time.Since(start))
		sum.Add(rec)
		fmt.Fprintf(out, "[%*d/%d] %s\n", width, i+1, len(runs), runLine(rec, opts.Results))
		if err := write(); err != nil {
			return sum, dir, err
		}
	}
	sum.Finish(time.Now(), ctx.Err() != nil)
	if err := write(); err != nil {
		return sum, dir, err
	}
	return sum, dir, nil
}

// execute runs one planned run (or search) and records it.
func execute(ctx context.Context, r Run, opts Options) Record {
	// A docker run shows its progress (minutes of it); a simulated one
	// takes a moment and says nothing until its line.
	out := io.Discard
	if r.Config.Backend == "docker" {
		out = opts.Out
	}
	req := runner.Request{Config: r.Config, Image: r.Image}
	if r.Within > 0 {
		seed, err := search(ctx, r)
		if err != nil || seed == 0 {
			rec := NewRecord(r, r.Config, opts.Results, time.Now(), 0, store.RunResult{}, "", err)
			rec.Label = searchLabel(r)
			if err == nil {
				// Nothing caught: the expected bug went unseen.
				rec.Verdict, rec.Outcome = checker.Valid.String(), Fail
				rec.Notes = append(rec.Notes, fmt.Sprintf("no invalid seed among %d from seed %d", r.Within, r.Config.Seed))
			}
			return rec
		}
		req.Config.Seed = seed
	}
	tc, err := runner.Resolve(ctx, req, out)
	if err != nil {
		return NewRecord(r, req.Config, opts.Results, time.Now(), 0, store.RunResult{}, "", err)
	}
	res, dir, err := runner.Run(ctx, tc, opts.Results, runner.Options{Out: out})
	rec := NewRecord(r, tc, opts.Results, time.Now(), 0, res, dir, err)
	if r.Within > 0 {
		rec.Label = searchLabel(r)
		rec.Notes = append(rec.Notes, fmt.Sprintf("caught at seed %d, the %d-th of the %d searched", tc.Seed, tc.Seed-r.Config.Seed+1, r.Within))
	}
	if r.Shrink && err == nil && tc.Backend == "sim" && shrink.KindOf(res) != shrink.Passes {
		shrinkRun(ctx, tc, &rec, opts)
	}
	return rec
}

// shrinkBudget bounds the shrinking of one failing run of a campaign.
const shrinkBudget = 2 * time.Minute

// shrinkRun shrinks a failing simulated run and links the result; a
// failure to shrink is a note, never the run's outcome.
func shrinkRun(ctx context.Context, tc store.TestConfig, rec *Record, opts Options) {
	res, err := shrink.Shrink(ctx, tc, shrink.Options{Budget: shrinkBudget})
	if err == nil {
		var dir string
		if _, dir, err = runner.Run(context.WithoutCancel(ctx), res.Config, opts.Results, runner.Options{}); err == nil {
			if rel, rerr := filepath.Rel(opts.Results, dir); rerr == nil {
				rec.Shrunk = filepath.ToSlash(rel)
			}
			rec.Notes = append(rec.Notes, fmt.Sprintf("shrunk from %v to %v", res.Before, res.After))
			return
		}
	}
	rec.Notes = append(rec.Notes, "could not shrink: "+err.Error())
}

func searchLabel(r Run) string {
	return fmt.Sprintf("%s seeds %d..%d", r.Name, r.Config.Seed, r.Config.Seed+uint64(r.Within)-1)
}

// search finds the first of a run's Within seeds whose history is not
// linearizable, 0 if none.
func search(ctx context.Context, r Run) (uint64, error) {
	for i := range uint64(r.Within) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		tc := r.Config
		tc.Seed += i
		tc, err := sim.Resolve(tc)
		if err != nil {
			return 0, err
		}
		fin, err := sim.Run(ctx, tc)
		if err != nil {
			return 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, time.Duration(tc.CheckTimeout))
		res, err := checker.Check(cctx, fin.Outcome.Events)
		cancel()
		if err != nil {
			return 0, err
		}
		if res.Verdict == checker.Invalid {
			return tc.Seed, nil
		}
	}
	return 0, nil
}

func seedRange(r Run) string {
	if r.Repeat == 1 {
		return ""
	}
	return fmt.Sprintf(" (its %d runs take seeds %d..%d)", r.Repeat, r.Config.Seed, r.Config.Seed+uint64(r.Repeat-1))
}

// runLine is a run's line of progress.
func runLine(r Record, root string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", r.Label)
	switch r.Outcome {
	case Error:
		fmt.Fprintf(&b, "HARNESS ERROR: %s", r.Error)
	case Pass:
		fmt.Fprintf(&b, "%s", r.Verdict)
		if r.Expect != "valid" {
			fmt.Fprintf(&b, " as expected")
		}
	default:
		fmt.Fprintf(&b, "%s", strings.ToUpper(r.Verdict))
		if r.Outcome == Fail {
			fmt.Fprintf(&b, " (expected %s)", r.Expect)
		}
	}
	if r.Outcome != Error {
		fmt.Fprintf(&b, "  %d ok %d fail %d info", r.Counts.OK, r.Counts.Fail, r.Counts.Info)
	}
	fmt.Fprintf(&b, "  %v", time.Duration(r.Duration).Round(10*time.Millisecond))
	if r.Dir != "" {
		fmt.Fprintf(&b, "  %s", filepath.Join(root, filepath.FromSlash(r.Dir)))
	}
	if r.Outcome != Pass {
		fmt.Fprintf(&b, "\n    replay: %s", r.Replay)
	}
	return b.String()
}

// Print writes the closing summary: totals, the runs that did not pass
// with their replay commands, and where the files are.
func Print(w io.Writer, s *Summary, dir, junit string) {
	t := s.Totals
	fmt.Fprintf(w, "\ncampaign %s: %d of %d runs in %v: %d passed, %d failed, %d unknown, %d harness errors\n",
		s.Name, len(s.Runs), s.Planned, time.Duration(s.Duration).Round(time.Millisecond), t.Pass, t.Fail, t.Unknown, t.Error)
	if s.Interrupted {
		fmt.Fprintf(w, "  INTERRUPTED: %d runs did not run\n", s.Planned-len(s.Runs))
	}
	bad := slices.DeleteFunc(slices.Clone(s.Runs), func(r Record) bool { return r.Outcome == Pass })
	for _, r := range bad {
		what := r.Verdict
		if r.Outcome == Error {
			what = "harness error"
		}
		fmt.Fprintf(w, "  %s %s (%s)\n    replay: %s\n", strings.ToUpper(string(r.Outcome)), r.Label, what, r.Replay)
	}
	fmt.Fprintf(w, "  summary: %s\n  index:   %s\n", filepath.Join(dir, SummaryFile), filepath.Join(dir, IndexFile))
	if junit != "" {
		fmt.Fprintf(w, "  junit:   %s\n", junit)
	}
	fmt.Fprintf(w, "  exit %d\n", s.ExitCode)
}
