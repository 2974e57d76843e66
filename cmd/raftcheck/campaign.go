package main

import (
	"context"
	"flag"
	"fmt"
	"io"

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
    - name: forget-vote-caught
      backend: sim
      unsafe: forget-vote
      seed: 1
      within: 200                     # passes if one of seeds 1..200 is caught

A run's keys are the flags of 'raftcheck test' (see raftcheck test -h),
with the same defaults and the same checks, less results (the campaign's):
backend, nodes, nemesis, time-limit, seed, unsafe, image, ... Besides them:
name, repeat (each repetition takes the next seed), expect: valid (the
default) or invalid, and within: N (a simulator search: expect: invalid
passes if one of N seeds from the run's seed on is caught; the run stored
is the first caught seed). Keys in defaults apply to every run that does not set
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
	spec, runs, err := campaign.Load(*specFile)
	if err != nil {
		return exitHarness, err
	}
	sum, dir, err := campaign.Execute(ctx, spec, runs, campaign.Options{Results: *results, JUnit: *junit, Out: stdout})
	if err != nil {
		return exitHarness, err
	}
	campaign.Print(stdout, sum, dir, *junit)
	return sum.ExitCode, nil
}
