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
	df := newDockerFlags(fs)
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	if err := f.resolve(""); err != nil {
		return exitHarness, err
	}
	f.cfg.Name = testName(f.cfg)
	res, dir, err := runTest(ctx, f.cfg, *df, f.results, f.htmlAlways, stdout)
	if err != nil {
		return exitHarness, err
	}
	harness.PrintSummary(stdout, f.cfg, res, dir)
	return exitCode(res.Verdict), nil
}

// runTest runs one test on its backend, checks it and stores it under
// results. Campaigns run their entries through it too.
func runTest(ctx context.Context, cfg harness.TestConfig, df dockerFlags, results string, htmlAlways bool, stdout io.Writer) (harness.RunResult, string, error) {
	fmt.Fprintf(stdout, "raftcheck test: %s, seed %d\n", cfg.Name, cfg.Seed)
	var out harness.Outcome
	switch cfg.Backend {
	case "sim":
		o, eff, err := sim.RunTest(cfg)
		if err != nil {
			return harness.RunResult{}, "", err
		}
		out = o
		cfg.BackendConfig = sim.MarshalConfig(eff)
	default:
		o, attach, closeCluster, err := runDocker(ctx, cfg, df, stdout)
		defer closeCluster()
		if err != nil {
			return harness.RunResult{}, "", err
		}
		out = o
		out.Attach = attach
	}
	return harness.CheckAndStore(context.WithoutCancel(ctx), results, cfg, out, htmlAlways)
}

// defaultDockerFlags are the docker backend's defaults.
func defaultDockerFlags() dockerFlags {
	return dockerFlags{image: "", electionTimeout: 500 * time.Millisecond,
		nemesisInterval: 5 * time.Second, clientTimeout: time.Second}
}

// newDockerFlags defines the docker backend's flags on fs (test and the
// entries of a campaign spec share them).
func newDockerFlags(fs *flag.FlagSet) *dockerFlags {
	df := defaultDockerFlags()
	fs.StringVar(&df.image, "image", df.image, "docker backend: the nodes' image (default raftcheck/raftnode:dev from make image, or raftcheck/etcd:dev from make etcd-image)")
	fs.DurationVar(&df.electionTimeout, "election-timeout", df.electionTimeout, "docker backend: the nodes' election timeout (etcd: heartbeat a tenth of it)")
	fs.DurationVar(&df.nemesisInterval, "nemesis-interval", df.nemesisInterval, "docker backend: how long each fault lasts (quiet half as long between)")
	fs.DurationVar(&df.clientTimeout, "client-timeout", df.clientTimeout, "docker backend: one attempt of an operation; past it, a write is retried or info")
	return &df
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
