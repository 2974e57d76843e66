package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/docker"
	"github.com/raftcheck/raftcheck/workload"
)

// dockerFlags are the docker backend's own settings.
type dockerFlags struct {
	image           string
	electionTimeout time.Duration
	nemesisInterval time.Duration
	clientTimeout   time.Duration
}

// runDocker runs a test against the target (raftnode or etcd) in
// containers. The returned attach copies the node logs into the run
// directory; closeCluster removes the containers and must always be
// called.
func runDocker(ctx context.Context, cfg harness.TestConfig, df dockerFlags, stdout io.Writer) (harness.Outcome, func(context.Context, string) error, func(), error) {
	noop := func() {}
	if err := docker.Available(ctx); err != nil {
		return harness.Outcome{}, nil, noop, err
	}
	if n, err := docker.CleanupOrphans(ctx); err != nil {
		return harness.Outcome{}, nil, noop, fmt.Errorf("remove leftovers of earlier runs: %w", err)
	} else if n > 0 {
		fmt.Fprintf(stdout, "removed %d leftover containers/networks/volumes of an interrupted run\n", n)
	}
	dc, opts := raftnodeConfig(cfg, df)
	if cfg.Target == "etcd" {
		dc, opts = etcdConfig(df)
	}
	dc.Nodes, dc.Image, dc.Logger = cfg.Nodes, df.image, slog.New(slog.DiscardHandler)
	opts.NemesisInterval, opts.ClientTimeout, opts.Progress = df.nemesisInterval, df.clientTimeout, stdout
	image := cmp.Or(df.image, dc.Target.Image)
	fmt.Fprintf(stdout, "starting %d %s containers (%s)...\n", cfg.Nodes, dc.Target.Name, image)
	started := time.Now()
	cl, err := docker.Start(ctx, dc)
	if err != nil {
		return harness.Outcome{}, nil, noop, err
	}
	closeCluster := func() {
		// A fresh context: Ctrl-C must not stop the clean-up.
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := cl.Close(cctx); err != nil {
			fmt.Fprintf(stdout, "warning: removing the cluster: %v (run 'raftcheck cleanup')\n", err)
		}
	}
	live, closeClients, err := liveCluster(cfg, cl)
	if err != nil {
		return harness.Outcome{}, nil, closeCluster, err
	}
	defer closeClients()
	fmt.Fprintf(stdout, "cluster up in %v; running for %v\n", time.Since(started).Round(100*time.Millisecond), time.Duration(cfg.TimeLimit))
	out, err := harness.RunLive(ctx, live, cfg, opts)
	if err != nil {
		return out, nil, closeCluster, err
	}
	for _, f := range out.Faults {
		if f.Bit != nil && !*f.Bit {
			out.Notes = append(out.Notes, fmt.Sprintf("fault did not bite: %s (%s)", f.Action, f.Evidence))
		}
	}
	attach := func(ctx context.Context, dir string) error {
		return cl.CopyLogs(ctx, filepath.Join(dir, "nodes"))
	}
	return out, attach, closeCluster, nil
}

// raftnodeConfig is the docker cluster and live-run settings for raftnode.
func raftnodeConfig(cfg harness.TestConfig, df dockerFlags) (docker.Config, harness.LiveOptions) {
	args := []string{"--election-timeout", df.electionTimeout.String(), "--request-timeout", df.clientTimeout.String()}
	if cfg.Unsafe != "" {
		args = append(args, "--unsafe", cfg.Unsafe)
	}
	return docker.Config{Target: docker.Raftnode(), Args: args}, harness.LiveOptions{}
}

// liveCluster gives the docker cluster the target's clients; the
// returned func closes them.
func liveCluster(cfg harness.TestConfig, cl *docker.Cluster) (harness.LiveCluster, func(), error) {
	if cfg.Target == "etcd" {
		return newEtcdCluster(cl, workload.EtcdReads(cfg.EtcdReads))
	}
	hc := workload.NewHTTPClient(cfg.Concurrency)
	return raftnodeCluster{cl, hc}, hc.CloseIdleConnections, nil
}

// raftnodeCluster gives a docker cluster raftnode's HTTP clients.
type raftnodeCluster struct {
	*docker.Cluster
	hc *http.Client
}

func (c raftnodeCluster) Client(node string) workload.Client {
	return workload.NewRaftnodeClient(c.ClientAddr(node), c.hc)
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

// isTerminal reports whether w is a character device (a terminal), where
// the progress line can be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
