// Command raftmutants runs the mutation-testing corpus (mutants/*.yaml,
// see harness/mutants): each mutant applied to a copy of the module, the
// simulator's seeds and the node's unit tests run against it, the table
// printed and stored under results/mutants/<ts>/, and the catch rate
// compared with the committed baseline (mutants/BASELINE.json).
//
// Exit status: 0 the catch rate is at least the baseline's, 1 it dropped,
// 3 the runner itself failed (a mutant that no longer applies included).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/raftcheck/raftcheck/harness/mutants"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("raftmutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("mutants", "mutants", "directory of the mutant files")
	seeds := fs.Int("seeds", 1000, "simulator seeds per mutant (0: skip the simulator)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	timeLimit := fs.String("time-limit", "20s", "simulated time per seed")
	simTimeout := fs.Duration("sim-timeout", 45*time.Minute, "wall-time bound of one mutant's sim run")
	units := fs.String("units", "./node/...", "packages whose tests run per mutant, space-separated (empty: skip)")
	only := fs.String("only", "", "comma-separated mutant names to run (default all)")
	results := fs.String("results", "results", "results store")
	baseline := fs.String("baseline", "mutants/BASELINE.json", "committed baseline to compare with (empty: none)")
	write := fs.Bool("write-baseline", false, "write this run as the baseline (BASELINE.json and BASELINE.md)")
	ablateRun := fs.String("ablate", "", "instead of running, take a stored run (its mutants.json) and find, for each sim catch, which network features its first failing seed needed; stores the run again with that column")
	adopt := fs.String("adopt", "", "instead of running, make stored mutants.json files (comma-separated: parts of one corpus run with the same settings) the baseline, notes refreshed from the corpus")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 3
	}
	ms, err := mutants.Load(*dir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 3
	}
	if *adopt != "" {
		return adoptBaseline(*adopt, ms, *baseline, stdout, stderr)
	}
	if *ablateRun != "" {
		return ablateStored(ctx, *ablateRun, ms, stdout, stderr)
	}
	if *only != "" {
		ms = pick(ms, strings.Split(*only, ","))
		if len(ms) == 0 {
			fmt.Fprintf(stderr, "raftmutants: no mutant named in --only %q\n", *only)
			return 3
		}
	}
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 3
	}
	rep := &mutants.Report{Commit: commit(root), Seeds: *seeds, TimeLimit: *timeLimit,
		Units: strings.Fields(*units), Started: time.Now().UTC().Format(time.RFC3339)}
	out := filepath.Join(*results, "mutants", time.Now().UTC().Format("20060102T150405Z"))
	fmt.Fprintf(stdout, "raftmutants: %d mutants, %d seeds each, units %s, commit %s, storing in %s\n",
		len(ms), *seeds, *units, rep.Commit, out)
	rep.Results, err = mutants.Run(ctx, ms, mutants.Options{Root: root, Seeds: *seeds, Workers: *workers,
		TimeLimit: *timeLimit, SimTimeout: *simTimeout, Units: rep.Units, Log: stdout,
		Done: func(rs []mutants.Result) {
			// Store as it goes: a long run stopped half-way keeps its table.
			partial := *rep
			partial.Results = rs
			partial.Tally()
			if err := partial.Save(out); err != nil {
				fmt.Fprintln(stderr, "raftmutants: store:", err)
			}
		}})
	if err != nil {
		fmt.Fprintln(stderr, "raftmutants:", err)
		return 3
	}
	rep.Tally()
	fmt.Fprintln(stdout)
	if err := rep.WriteMarkdown(stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 3
	}
	if err := rep.Save(out); err != nil {
		fmt.Fprintln(stderr, "raftmutants: store:", err)
		return 3
	}
	fmt.Fprintf(stdout, "\nstored in %s\n", out)
	for _, x := range rep.Results {
		if x.Error != "" {
			fmt.Fprintf(stderr, "raftmutants: %s: %s\n", x.Name, x.Error)
			return 3
		}
	}
	if *write {
		if err := writeBaseline(rep, *baseline); err != nil {
			fmt.Fprintln(stderr, "raftmutants:", err)
			return 3
		}
		fmt.Fprintf(stdout, "baseline written to %s\n", *baseline)
		return 0
	}
	if *baseline == "" || *only != "" {
		return 0 // a partial run has no baseline to meet
	}
	base, err := mutants.LoadReport(*baseline)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 3
	}
	lost, err := mutants.Compare(rep, base)
	if len(lost) > 0 {
		fmt.Fprintf(stdout, "caught by the baseline, not by this run: %s\n", strings.Join(lost, ", "))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "catch rate %.1f%% (baseline %.1f%%): ok\n", 100*rep.Rate, 100*base.Rate)
	return 0
}

// writeBaseline stores rep as BASELINE.json and BASELINE.md.
func writeBaseline(rep *mutants.Report, path string) error {
	dir := filepath.Dir(path)
	if err := rep.Save(dir); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	for _, ext := range []string{".json", ".md"} {
		if err := os.Rename(filepath.Join(dir, "mutants"+ext), strings.TrimSuffix(path, ".json")+ext); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	return nil
}

// adoptBaseline makes finished runs the baseline: one, or several that
// each ran part of the corpus with the same settings (to use more than
// one process), a later run of a mutant replacing an earlier. The measured columns are kept as stored; rules and notes
// come from the corpus as it is now, so an explanation written after the
// run appears in the table.
func adoptBaseline(from string, ms []mutants.Mutant, path string, stdout, stderr io.Writer) int {
	rep, err := mergeReports(strings.Split(from, ","))
	if err != nil {
		fmt.Fprintln(stderr, "raftmutants:", err)
		return 3
	}
	byName := map[string]mutants.Mutant{}
	for _, m := range ms {
		byName[m.Name] = m
	}
	for i, x := range rep.Results {
		if m, ok := byName[x.Name]; ok {
			rep.Results[i].Rule, rep.Results[i].Note = m.Rule, m.Note
		}
	}
	if len(rep.Results) != len(ms) {
		fmt.Fprintf(stderr, "raftmutants: the runs hold %d results for a corpus of %d mutants\n", len(rep.Results), len(ms))
		return 3
	}
	rep.Tally()
	if err := writeBaseline(rep, path); err != nil {
		fmt.Fprintln(stderr, "raftmutants:", err)
		return 3
	}
	fmt.Fprintf(stdout, "baseline %s: %d of %d caught, from %s\n", path, rep.Caught, len(rep.Results), from)
	return 0
}

func mergeReports(paths []string) (*mutants.Report, error) {
	var out *mutants.Report
	seen := map[string]bool{}
	for _, p := range paths {
		r, err := mutants.LoadReport(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &mutants.Report{Commit: r.Commit, Seeds: r.Seeds, TimeLimit: r.TimeLimit, Units: r.Units, Started: r.Started}
		} else {
			if r.Seeds != out.Seeds || r.TimeLimit != out.TimeLimit || strings.Join(r.Units, " ") != strings.Join(out.Units, " ") {
				return nil, fmt.Errorf("%s ran with other settings than %s", p, paths[0])
			}
			if !strings.Contains(out.Commit, r.Commit) {
				out.Commit += " + " + r.Commit
			}
			out.Started = min(out.Started, r.Started)
		}
		for _, x := range r.Results {
			if seen[x.Name] {
				// A later run of a mutant (after a fix) replaces the earlier.
				out.Results = slices.DeleteFunc(out.Results, func(y mutants.Result) bool { return y.Name == x.Name })
			}
			seen[x.Name] = true
			out.Results = append(out.Results, x)
		}
	}
	slices.SortFunc(out.Results, func(a, b mutants.Result) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func pick(ms []mutants.Mutant, names []string) []mutants.Mutant {
	var out []mutants.Mutant
	for _, m := range ms {
		for _, n := range names {
			if m.Name == strings.TrimSpace(n) {
				out = append(out, m)
			}
		}
	}
	return out
}

// commit names the tree the mutants were applied to.
func commit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

// ablateStored adds the network ablation to a stored run, in place.
func ablateStored(ctx context.Context, path string, ms []mutants.Mutant, stdout, stderr io.Writer) int {
	rep, err := mutants.LoadReport(path)
	if err != nil {
		fmt.Fprintln(stderr, "raftmutants:", err)
		return 3
	}
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 3
	}
	if err := mutants.Ablate(ctx, ms, rep.Results, mutants.Options{Root: root, TimeLimit: rep.TimeLimit, Log: stdout}); err != nil {
		fmt.Fprintln(stderr, "raftmutants:", err)
		return 3
	}
	rep.Tally()
	dir := filepath.Dir(path)
	if err := rep.Save(dir); err != nil {
		fmt.Fprintln(stderr, "raftmutants: store:", err)
		return 3
	}
	fmt.Fprintf(stdout, "stored in %s\n", dir)
	return 0
}
