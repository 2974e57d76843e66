package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/raftcheck/raftcheck/harness/campaign"
)

const campaignUsage = `usage: raftcheck campaign --spec FILE [--junit PATH] [--results DIR] [--shard I/N] [--campaign-seed S]
       raftcheck campaign merge --out DIR [--junit PATH] SHARD_RESULTS...

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
      seed: 1000                      # optional; default: from the campaign seed
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

Seeds: a run without a seed takes one derived from the campaign seed and
the run's place in the spec. --campaign-seed S fixes it (default: chosen at
random, printed, and kept in summary.json as campaign_seed), so
--campaign-seed S runs the same seeds again.

Sharding (a CI matrix): --shard I/N runs the I-th of N slices of the
campaign (I from 1): run k of the plan (repetitions counted out) belongs to
shard k mod N + 1, so repetitions and docker runs spread over the shards,
and a within: search is one run, in one shard. Give every shard the same
spec and the same --campaign-seed: the N shards then run exactly the
campaign, each run once. Each shard writes its own summary (its exit status
covers its runs). Then

  raftcheck campaign merge --out DIR [--junit PATH] SHARD_RESULTS...

reads each SHARD_RESULTS (a results store holding one campaign, or a
campaign directory), checks they are distinct shards of one campaign (same
spec contents, campaign seed and shard count), copies their run directories
into DIR, and writes DIR/campaigns/<UTC timestamp>/summary.json and
index.html (runs in plan order) and the JUnit report: the runs, verdicts,
JUnit cases and exit status one unsharded run would give. A shard missing
or unfinished makes the campaign incomplete: exit 3, unless a run failed.

Flags:
`

func cmdCampaign(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) > 0 && args[0] == "merge" {
		return cmdCampaignMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("raftcheck campaign", flag.ContinueOnError)
	specFile := fs.String("spec", "", "the campaign spec (YAML)")
	junit := fs.String("junit", "", "also write a JUnit XML report to this file")
	results := fs.String("results", "results", "directory of the results store")
	shardFlag := fs.String("shard", "", "run only shard I of N (I/N, e.g. 3/8); see Sharding")
	seed, seedSet := uint64(0), false
	fs.Func("campaign-seed", "the seed the runs without a seed derive theirs from (default: chosen and printed)", func(s string) error {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a number from 0 to %d", uint64(math.MaxUint64))
		}
		seed, seedSet = n, true
		return nil
	})
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
	var shard *campaign.Shard
	if *shardFlag != "" {
		sh, err := campaign.ParseShard(*shardFlag)
		if err != nil {
			return exitHarness, fmt.Errorf("%w: %v", errUsage, err)
		}
		shard = &sh
	}
	if !seedSet {
		seed = campaign.NewCampaignSeed()
	}
	spec, runs, err := campaign.Load(*specFile, seed)
	if err != nil {
		return exitHarness, err
	}
	if shard != nil {
		runs, *shard = campaign.Select(runs, *shard)
	}
	sum, dir, err := campaign.Execute(ctx, spec, runs, campaign.Options{Results: *results, JUnit: *junit, Out: stdout, Shard: shard})
	if err != nil {
		return exitHarness, err
	}
	campaign.Print(stdout, sum, dir, *junit)
	return sum.ExitCode, nil
}

func cmdCampaignMerge(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck campaign merge", flag.ContinueOnError)
	out := fs.String("out", "", "the results store to merge into (created if need be)")
	junit := fs.String("junit", "", "also write the merged JUnit XML report to this file")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), campaignUsage)
		fs.PrintDefaults()
	}
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitHarness, err
		}
		return exitHarness, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *out == "" || fs.NArg() == 0 {
		return exitHarness, fmt.Errorf("%w: merge --out DIR [--junit PATH] SHARD_RESULTS... (the shards' results stores)", errUsage)
	}
	sum, dir, err := campaign.Merge(*out, fs.Args(), *junit, time.Now())
	if err != nil {
		return exitHarness, err
	}
	fmt.Fprintf(stdout, "merged %d shard results of campaign %s (campaign seed %d)\n", len(sum.Merged), sum.Name, sum.CampaignSeed)
	if len(sum.MissingShards) > 0 {
		fmt.Fprintf(stdout, "  MISSING shards %v: their runs did not run\n", sum.MissingShards)
	}
	campaign.Print(stdout, sum, dir, *junit)
	return sum.ExitCode, nil
}
