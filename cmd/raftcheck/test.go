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
	var df dockerFlags
	fs.StringVar(&df.image, "image", "raftcheck/raftnode:dev", "docker backend: the raftnode image (make image builds it)")
	fs.DurationVar(&df.electionTimeout, "election-timeout", 500*time.Millisecond, "docker backend: raftnode's election timeout")
	fs.DurationVar(&df.nemesisInterval, "nemesis-interval", 5*time.Second, "docker backend: how long each fault lasts (quiet half as long between)")
	fs.DurationVar(&df.clientTimeout, "client-timeout", time.Second, "docker backend: one attempt of an operation; past it, a write is retried or info")
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
		o, attach, closeCluster, err := runDocker(ctx, f.cfg, df, stdout)
		defer closeCluster()
		if err != nil {
			return exitHarness, err
		}
		out = o
		out.Attach = attach
	}
	res, dir, err := harness.CheckAndStore(context.WithoutCancel(ctx), f.results, f.cfg, out, f.htmlAlways)
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
