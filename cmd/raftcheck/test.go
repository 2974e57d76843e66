package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/docker"
	"github.com/raftcheck/raftcheck/harness/runner"
)

func cmdTest(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck test", flag.ContinueOnError)
	f := runner.NewFlags(fs, "docker", 60*time.Second)
	if err := parse(fs, args, stderr); err != nil {
		return exitHarness, err
	}
	req, err := f.Request()
	if err != nil {
		return exitHarness, fmt.Errorf("%w: %v", errUsage, err)
	}
	if req.Replayed != "" {
		fmt.Fprintf(stdout, "raftcheck test: replaying %s\n", req.Replayed)
	}
	recorded := docker.RecordedImageID(req.Config)
	tc, err := runner.Resolve(ctx, req, stdout)
	if err != nil {
		return exitHarness, err
	}
	if now := docker.RecordedImageID(tc); recorded != "" && now != recorded {
		fmt.Fprintf(stdout, "warning: the image is %s now; the stored run used %s\n", now, recorded)
	}
	fmt.Fprintf(stdout, "raftcheck test: %s, seed %d\n", tc.Name, tc.Seed)
	res, dir, err := runner.Run(ctx, tc, f.Results, runner.Options{Out: stdout, HTMLAlways: f.HTMLAlways})
	if isStalled(err) {
		fmt.Fprintf(stdout, "%v\nNOT live: the simulation never ended, so there is no history to check\n", err)
		return exitNotLive, nil
	}
	if err != nil {
		return exitHarness, err
	}
	harness.PrintSummary(stdout, tc, res, dir)
	return res.ExitCode(), nil
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

// parse parses args into fs, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}

func cmdCleanup(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	if len(args) > 0 {
		return exitHarness, fmt.Errorf("%w: cleanup takes no arguments", errUsage)
	}
	if err := docker.Available(ctx); err != nil {
		return exitHarness, err
	}
	n, err := docker.Cleanup(ctx)
	if err != nil {
		return exitHarness, err
	}
	fmt.Fprintf(stdout, "removed %d containers, networks and volumes labelled by raftcheck\n", n)
	return exitValid, nil
}
