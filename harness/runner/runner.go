// Package runner runs one test on the backend its configuration names:
// resolve the configuration once (the simulator draws its knobs, docker
// takes its defaults and records the image), run the engine, check the
// history and store the run. `raftcheck test`, `raftcheck sim` and
// campaigns all run tests through it.
package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/raftcheck/raftcheck/nemesis"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/docker"
	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Resolve completes a test's configuration on its backend, once: what it
// returns is what runs and what test.json records. Docker builds a
// missing image of raftcheck's own first, telling out.
func Resolve(ctx context.Context, req Request, out io.Writer) (store.TestConfig, error) {
	if req.Config.Backend == "sim" {
		if req.Image != "" {
			return req.Config, fmt.Errorf("--image is for --backend docker; the simulator runs raftnode's code in-process")
		}
		if kind, ok := nemesis.Supports((*sim.Simulator)(nil), req.Config.Nemesis); !ok {
			return req.Config, fmt.Errorf("--nemesis %s: the simulator cannot take this fault yet; run it with --backend docker", kind)
		}
		return sim.Resolve(req.Config)
	}
	if req.Config.Target == "etcd" {
		for _, k := range []string{"torn-tail", "flip-byte"} {
			if slices.Contains(req.Config.Nemesis, k) {
				return req.Config, fmt.Errorf("--nemesis %s damages raftnode's log records; etcd's WAL is another format: leave it out for --target etcd", k)
			}
		}
	}
	image := docker.ImageFor(req.Config, req.Image)
	if err := docker.Available(ctx); err != nil {
		return req.Config, err
	}
	if err := docker.EnsureImage(ctx, image, out); err != nil {
		return req.Config, err
	}
	return docker.Resolve(ctx, req.Config, image)
}

// Options are how a run shows itself; they do not change what it does.
type Options struct {
	Out        io.Writer // progress and messages
	HTMLAlways bool
}

// Run runs a resolved test, checks it and stores it under results.
func Run(ctx context.Context, tc store.TestConfig, results string, opts Options) (store.RunResult, string, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	var fin harness.Finished
	var err error
	switch tc.Backend {
	case "sim":
		fin, err = sim.Run(ctx, tc)
	default:
		fin, err = docker.Run(ctx, tc, out, isTerminal(out))
	}
	if err != nil {
		return store.RunResult{}, "", err
	}
	return harness.CheckAndStore(context.WithoutCancel(ctx), results, fin, opts.HTMLAlways)
}

// isTerminal reports whether w is a terminal, where the progress line
// can be rewritten in place; a file or a pipe (a CI log) gets plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
