package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/runner"
	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
)

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck sim", flag.ContinueOnError)
	f := runner.NewFlags(fs, "sim", 30*time.Second)
	seeds := fs.Int("seeds", 100, "how many seeds to run, from --seed on")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	if err := fs.Set("backend", "sim"); err != nil {
		return exitHarness, err
	}
	if !isSet(fs, "seed") {
		if err := fs.Set("seed", "1"); err != nil {
			return exitHarness, err
		}
	}
	req, err := f.Request()
	if err != nil {
		return exitHarness, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *seeds < 1 || *workers < 1 {
		return exitHarness, fmt.Errorf("%w: --seeds and --workers must be at least 1", errUsage)
	}
	base := req.Config
	first := base.Seed
	fmt.Fprintf(stdout, "raftcheck sim: %s, seeds %d..%d, %d workers\n", base.Name, first, first+uint64(*seeds)-1, *workers)

	start := time.Now()
	done, unknown := 0, 0
	var failed *runner.SeedResult[int]
	var harnessErr error
	var stalled *sim.StalledError
	runner.Sweep(ctx, first, *seeds, *workers, func(seed uint64) (int, error) {
		return checkSeed(ctx, base, seed)
	}, func(r runner.SeedResult[int]) bool {
		done++
		switch {
		case errors.As(r.Err, &stalled):
			// The stuck goroutine spins on (and may allocate) until the
			// process exits: report at once, without running it again.
			return false
		case r.Err != nil:
			if harnessErr == nil {
				harnessErr = fmt.Errorf("seed %d: %w", r.Seed, r.Err)
			}
			return false
		case r.Value == exitInvalid || r.Value == exitNotLive:
			if failed == nil || r.Seed < failed.Seed {
				failed = &r
			}
			return false
		case r.Value == exitUnknown:
			unknown++
			fmt.Fprintf(stdout, "seed %d: check timed out (unknown)\n", r.Seed)
		}
		if done%10 == 0 || done == *seeds {
			fmt.Fprintf(stdout, "%d/%d seeds, %d unknown, %.1f seeds/s\n", done, *seeds, unknown,
				float64(done)/time.Since(start).Seconds())
		}
		return true
	})
	switch {
	case stalled != nil:
		base.Seed = stalled.Seed
		tc, err := sim.Resolve(base)
		if err != nil {
			return exitHarness, err
		}
		fmt.Fprintf(stdout, "%v\n\nseed %d is NOT live (its simulation stalled); replay it with:\n  %s\n", stalled, stalled.Seed, tc.ReplayCommand())
		return exitNotLive, nil
	case failed != nil:
		return storeFailure(ctx, f, base, failed.Seed, stdout)
	case harnessErr != nil:
		return exitHarness, harnessErr
	case ctx.Err() != nil:
		return exitHarness, ctx.Err()
	}
	fmt.Fprintf(stdout, "all %d seeds linearizable and live (%d unknown) in %v\n", done, unknown, time.Since(start).Round(time.Millisecond))
	if unknown > 0 {
		return exitUnknown, nil
	}
	return exitValid, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkSeed runs base at seed in the simulator and checks it: the exit
// status its run would have.
func checkSeed(ctx context.Context, base store.TestConfig, seed uint64) (int, error) {
	base.Seed = seed
	tc, err := sim.Resolve(base)
	if err != nil {
		return exitHarness, err
	}
	fin, err := sim.Run(ctx, tc)
	if err != nil {
		return exitHarness, err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(tc.CheckTimeout))
	defer cancel()
	res, err := checker.Check(cctx, fin.Outcome.Events)
	if err != nil {
		return exitHarness, err
	}
	verdict := res.Verdict
	if fin.Outcome.Invariant != "" {
		verdict = checker.Invalid
	}
	return store.RunResult{Verdict: verdict, NotLive: fin.Outcome.NotLive}.ExitCode(), nil
}

// storeFailure runs the failing seed again (runs are deterministic),
// stores it with its HTML view, and prints how to replay it.
func storeFailure(ctx context.Context, f *runner.Flags, base store.TestConfig, seed uint64, stdout io.Writer) (int, error) {
	base.Seed = seed
	tc, err := sim.Resolve(base)
	if err != nil {
		return exitHarness, err
	}
	res, dir, err := runner.Run(ctx, tc, f.Results, runner.Options{HTMLAlways: f.HTMLAlways})
	if err != nil {
		return exitHarness, err
	}
	harness.PrintSummary(stdout, tc, res, dir)
	what := "is NOT linearizable"
	switch {
	case res.Invariant != "":
		what = "broke a Raft invariant"
	case res.NotLive != "" && res.Verdict != checker.Invalid:
		what = "is NOT live after the final heal"
	}
	fmt.Fprintf(stdout, "\nseed %d %s; replay it with:\n  raftcheck test --replay %s\n", seed, what, dir)
	return res.ExitCode(), nil
}

// isStalled reports a simulation whose virtual time stopped (a livelock in
// the system under test): not a harness failure but a verdict, the limit
// case of not live.
func isStalled(err error) bool {
	var stalled *sim.StalledError
	return errors.As(err, &stalled)
}
