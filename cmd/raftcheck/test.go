package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/sim"
)

func cmdTest(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck test", flag.ContinueOnError)
	f := newTestFlags(fs, "docker", 60*time.Second)
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	if err := f.resolve(""); err != nil {
		return exitHarness, err
	}
	f.cfg.Name = testName(f.cfg)
	fmt.Fprintf(stdout, "raftcheck test: %s, seed %d\n", f.cfg.Name, f.cfg.Seed)
	var out harness.Outcome
	switch f.cfg.Backend {
	case "sim":
		o, eff, err := sim.RunTest(f.cfg)
		if err != nil {
			return exitHarness, err
		}
		out = o
		f.cfg.BackendConfig = sim.MarshalConfig(eff)
	default:
		o, err := runDocker(ctx, f.cfg, stdout)
		if err != nil {
			return exitHarness, err
		}
		out = o
	}
	res, dir, err := harness.CheckAndStore(ctx, f.results, f.cfg, out, f.htmlAlways)
	if err != nil {
		return exitHarness, err
	}
	harness.PrintSummary(stdout, f.cfg, res, dir)
	return exitCode(res.Verdict), nil
}

func exitCode(v checker.Verdict) int {
	switch v {
	case checker.Valid:
		return exitValid
	case checker.Invalid:
		return exitInvalid
	}
	return exitUnknown
}
