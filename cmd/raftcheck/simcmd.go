package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/sim"
)

// seedResult is one seed's verdict.
type seedResult struct {
	seed    uint64
	verdict checker.Verdict
	err     error
}

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck sim", flag.ContinueOnError)
	f := newTestFlags(fs, "sim", 30*time.Second)
	seeds := fs.Int("seeds", 100, "how many seeds to run, from --seed on")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	if !f.seedSet {
		f.seed, f.seedSet = 1, true
	}
	f.cfg.Backend = "sim"
	if err := f.resolve(""); err != nil {
		return exitHarness, err
	}
	if *seeds < 1 || *workers < 1 {
		return exitHarness, fmt.Errorf("%w: --seeds and --workers must be at least 1", errUsage)
	}
	f.cfg.Name = testName(f.cfg)
	first := f.cfg.Seed
	fmt.Fprintf(stdout, "raftcheck sim: %s, seeds %d..%d, %d workers\n", f.cfg.Name, first, first+uint64(*seeds)-1, *workers)

	// stop ends the handing out of seeds; the seeds already running
	// finish their checks, so a lower failing seed is not missed.
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	defer halt()
	jobs := make(chan uint64)
	results := make(chan seedResult)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range jobs {
				results <- runSeed(ctx, f.cfg, seed)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range uint64(*seeds) {
			select {
			case jobs <- first + i:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	start := time.Now()
	done, unknown := 0, 0
	var failed *seedResult
	for r := range results {
		done++
		switch {
		case r.err != nil:
			halt()
			return exitHarness, fmt.Errorf("seed %d: %w", r.seed, r.err)
		case r.verdict == checker.Invalid:
			if failed == nil || r.seed < failed.seed {
				failed = &r
			}
			halt()
		case r.verdict == checker.Unknown:
			unknown++
			fmt.Fprintf(stdout, "seed %d: check timed out (unknown)\n", r.seed)
		}
		if done%10 == 0 || done == *seeds {
			fmt.Fprintf(stdout, "%d/%d seeds, %d unknown, %.1f seeds/s\n", done, *seeds, unknown,
				float64(done)/time.Since(start).Seconds())
		}
	}
	if ctx.Err() != nil && failed == nil {
		return exitHarness, ctx.Err()
	}
	if failed != nil {
		return reportFailure(ctx, f, failed.seed, stdout)
	}
	fmt.Fprintf(stdout, "all %d seeds linearizable (%d unknown) in %v\n", done, unknown, time.Since(start).Round(time.Millisecond))
	if unknown > 0 {
		return exitUnknown, nil
	}
	return exitValid, nil
}

func runSeed(ctx context.Context, cfg harness.TestConfig, seed uint64) seedResult {
	cfg.Seed = seed
	out, _, err := sim.RunTest(cfg)
	if err != nil {
		return seedResult{seed: seed, err: err}
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CheckTimeout))
	defer cancel()
	res, err := checker.Check(cctx, out.Events)
	if err != nil {
		return seedResult{seed: seed, err: err}
	}
	return seedResult{seed: seed, verdict: res.Verdict}
}

// reportFailure re-runs the failing seed (runs are deterministic), stores
// it with its HTML view, and prints how to replay it.
func reportFailure(ctx context.Context, f *testFlags, seed uint64, stdout io.Writer) (int, error) {
	cfg := f.cfg
	cfg.Seed = seed
	out, eff, err := sim.RunTest(cfg)
	if err != nil {
		return exitHarness, err
	}
	cfg.BackendConfig = sim.MarshalConfig(eff)
	res, dir, err := harness.CheckAndStore(context.WithoutCancel(ctx), f.results, cfg, out, f.htmlAlways)
	if err != nil {
		return exitHarness, err
	}
	harness.PrintSummary(stdout, cfg, res, dir)
	fmt.Fprintf(stdout, "\nseed %d is NOT linearizable; replay it with:\n  %s\n", seed, cfg.ReplayCommand())
	return exitCode(res.Verdict), nil
}
