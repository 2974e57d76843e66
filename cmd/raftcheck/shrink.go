package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/runner"
	"github.com/raftcheck/raftcheck/harness/shrink"
	"github.com/raftcheck/raftcheck/harness/store"
)

func cmdShrink(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck shrink", flag.ContinueOnError)
	budget := fs.Duration("time-budget", 3*time.Minute, "stop searching after this long and keep the smallest failing run found")
	results := fs.String("results", "results", "directory of the results store (the shrunk run is stored there)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: raftcheck shrink [--time-budget 3m] RUN\n\n"+
			"Finds a smaller simulated run that fails the same way as the stored run RUN\n"+
			"(a run directory): fewer faults, a shorter time limit, fewer clients. The\n"+
			"faults are written into the new run's test.json as an explicit schedule, so\n"+
			"it replays byte for byte. Ctrl-C keeps the smallest found so far.\n\n")
		fs.PrintDefaults()
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitValid, err
		}
		return exitHarness, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return exitHarness, fmt.Errorf("%w: want one RUN: a run directory of a failing simulated run", errUsage)
	}
	run, err := store.ReadRun(fs.Arg(0))
	if err != nil {
		return exitHarness, err
	}
	if shrink.KindOf(run.Result) == shrink.Passes {
		return exitHarness, fmt.Errorf("%s passed: nothing to shrink", fs.Arg(0))
	}
	// Ctrl-C ends the search, not the storing of its best run.
	res, err := shrink.Shrink(ctx, run.Config, shrink.Options{Budget: *budget, Progress: stdout})
	if err != nil {
		return exitHarness, err
	}
	rres, dir, err := runner.Run(context.WithoutCancel(ctx), res.Config, *results, runner.Options{})
	if err != nil {
		return exitHarness, err
	}
	harness.PrintSummary(stdout, res.Config, rres, dir)
	fmt.Fprintf(stdout, "\nshrunk a run that is %s in %d runs%s:\n  before: %v\n  after:  %v\n",
		res.Kind, res.Runs, map[bool]string{true: " (the budget ran out)", false: ""}[res.OutOfBudget], res.Before, res.After)
	return rres.ExitCode(), nil
}
