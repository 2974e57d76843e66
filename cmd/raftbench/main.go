// Command raftbench measures a local three-process raftnode cluster:
// write and linearizable-read throughput and latency with 1 and 64
// concurrent clients, failover time after kill -9 of the leader, and the
// fsync latency of the disk underneath (the floor under every commit).
//
//	go build -o /tmp/raftnode ./cmd/raftnode
//	go run ./cmd/raftbench --raftnode /tmp/raftnode [--duration 5s] [--failovers 3] [--json out.json]
//
// It builds nothing; the cluster's data lives in a temporary directory
// that is removed afterwards, or, with --dirs, in one temporary directory
// below each of three given ones (one disk per node, as a production
// cluster has). The fsync floor is measured alone and in all three node
// directories at once: nodes sharing a disk queue behind each other's
// flushes, and the second figure shows what that costs here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/raftcheck/raftcheck/internal/proccluster"
	"github.com/raftcheck/raftcheck/workload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "raftbench:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	raftnode        string
	duration        time.Duration
	clients         []int
	failovers       int
	heartbeat       time.Duration
	electionTimeout time.Duration
	jsonPath        string
	conns           int
	// dirs are the directories the nodes' data go below, one per node;
	// empty: all in one temporary directory.
	dirs []string
}

// benchNodes is the cluster's size.
const benchNodes = 3

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("raftbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.raftnode, "raftnode", "", "path to the raftnode binary (required)")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each throughput run")
	clients := fs.String("clients", "1,64", "comma-separated client counts for the throughput runs")
	fs.IntVar(&cfg.failovers, "failovers", 3, "failover trials (kill -9 of the leader)")
	fs.DurationVar(&cfg.heartbeat, "heartbeat", 50*time.Millisecond, "the nodes' --heartbeat")
	fs.DurationVar(&cfg.electionTimeout, "election-timeout", 500*time.Millisecond, "the nodes' --election-timeout")
	fs.IntVar(&cfg.conns, "conns", 8, "client connections to the leader shared by all clients, HTTP/1.1 pipelined, half for reads and half for writes (0: net/http, one connection per client)")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the figures as JSON to this file")
	dirs := fs.String("dirs", "", fmt.Sprintf("%d comma-separated existing directories, one per node, for the nodes' data (e.g. one disk each); default: one temporary directory for all", benchNodes))
	err := fs.Parse(args)
	if err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.raftnode == "" {
		return cfg, errors.New("--raftnode PATH is required (build it with: go build -o /tmp/raftnode ./cmd/raftnode)")
	}
	if st, err := os.Stat(cfg.raftnode); err != nil {
		return cfg, fmt.Errorf("--raftnode: %w", err)
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return cfg, fmt.Errorf("--raftnode: %s is not an executable file", cfg.raftnode)
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("--clients: %q is not a positive integer", s)
		}
		cfg.clients = append(cfg.clients, n)
	}
	if *dirs != "" {
		if cfg.dirs, err = parseDirs(*dirs); err != nil {
			return cfg, err
		}
	}
	if cfg.duration <= 0 || cfg.failovers < 0 || cfg.conns < 0 {
		return cfg, errors.New("--duration must be positive, --failovers and --conns not negative")
	}
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	dir, err := os.MkdirTemp("", "raftbench-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	roots, err := dataRoots(dir, cfg.dirs)
	for _, r := range roots {
		if r != dir {
			defer os.RemoveAll(r)
		}
	}
	if err != nil {
		return err
	}

	res := results{Config: cfg.report()}
	log.Info("measuring fsync", "dirs", roots)
	if res.Fsync, err = measureFsync(ctx, roots[:1], fsyncProbeSize, fsyncProbeN); err != nil {
		return err
	}
	if res.FsyncTogether, err = measureFsync(ctx, roots, fsyncProbeSize, fsyncProbeN); err != nil {
		return err
	}

	log.Info("starting a 3-node cluster", "raftnode", cfg.raftnode, "dir", dir, "data", roots)
	cluster, err := proccluster.Start(proccluster.Config{Binary: cfg.raftnode, Nodes: benchNodes, Dir: dir, DataRoots: roots,
		Args: []string{"--heartbeat", cfg.heartbeat.String(), "--election-timeout", cfg.electionTimeout.String(),
			"--log-level", "warn"}})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	if _, err := waitStable(ctx, cluster); err != nil {
		return fmt.Errorf("cluster did not start: %w\nlast log lines:\n%s", err, logTails(cluster, 5))
	}

	maxClients := 1
	for _, n := range cfg.clients {
		maxClients = max(maxClients, n)
	}
	hc := workload.NewHTTPClient(maxClients)
	defer hc.CloseIdleConnections()
	for _, op := range []opKind{opWrite, opRead} {
		for _, n := range cfg.clients {
			r, err := measure(ctx, cfg, cluster, hc, op, n, maxClients, log)
			if err != nil {
				return err
			}
			res.Load = append(res.Load, r)
		}
	}

	leader, err := waitStable(ctx, cluster)
	if err != nil {
		return err
	}
	for i, n := range cluster.Nodes {
		res.PeakRSS = append(res.PeakRSS, peakRSS(n.ID, cluster.PID(i), i == leader))
	}

	for trial := 1; trial <= cfg.failovers; trial++ {
		f, err := failover(ctx, cluster)
		if err != nil {
			return fmt.Errorf("failover trial %d: %w", trial, err)
		}
		log.Info("failover", "trial", trial, "killed", f.Killed, "took", f.Duration, "first_write_via", f.FirstWriteVia)
		res.Failovers = append(res.Failovers, f)
	}

	res.summarize()
	if err := res.writeTable(stdout); err != nil {
		return err
	}
	if cfg.jsonPath != "" {
		if err := res.writeJSON(cfg.jsonPath); err != nil {
			return err
		}
	}
	return nil
}

// The fsync probes: a 4 KiB write and an fsync, this many times.
const (
	fsyncProbeSize = 4096
	fsyncProbeN    = 1000
)

// parseDirs checks --dirs: one existing directory per node.
func parseDirs(arg string) ([]string, error) {
	dirs := strings.Split(arg, ",")
	if len(dirs) != benchNodes {
		return nil, fmt.Errorf("--dirs: %d directories given, want %d (one per node)", len(dirs), benchNodes)
	}
	for i, d := range dirs {
		d = strings.TrimSpace(d)
		st, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("--dirs: %w (create it first)", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--dirs: %s is not a directory", d)
		}
		dirs[i] = d
	}
	return dirs, nil
}

// dataRoots returns the directory each node's data goes below: tmp for
// all of them, or a new temporary directory below each of dirs. On error
// it still returns those it made, for the caller to remove.
func dataRoots(tmp string, dirs []string) ([]string, error) {
	if len(dirs) == 0 {
		return slices.Repeat([]string{tmp}, benchNodes), nil
	}
	var roots []string
	for _, d := range dirs {
		r, err := os.MkdirTemp(d, "raftbench-")
		if err != nil {
			return roots, fmt.Errorf("--dirs: %w", err)
		}
		roots = append(roots, r)
	}
	return roots, nil
}

// measure runs one throughput run of op with n clients against the
// current leader, through the client cfg.conns asks for.
func measure(ctx context.Context, cfg config, cluster *proccluster.Cluster, hc *http.Client, op opKind, n, keys int,
	log *slog.Logger) (loadResult, error) {
	leader, err := waitStable(ctx, cluster)
	if err != nil {
		return loadResult{}, err
	}
	addr := cluster.Nodes[leader].ClientAddr
	var client workload.Client = workload.NewRaftnodeClient(addr, hc)
	if cfg.conns > 0 {
		pc := workload.NewPipelinedClient(addr, workload.PerKind(cfg.conns))
		defer pc.Close()
		client = pc
	}
	if op == opRead {
		if err := populate(ctx, client, keys); err != nil {
			return loadResult{}, err
		}
	}
	log.Info("throughput run", "op", op, "clients", n, "duration", cfg.duration, "leader", cluster.Nodes[leader].ID)
	return runLoad(ctx, client, op, n, cfg.duration)
}

// waitStable waits up to 10 s for a leader agreed by a majority with
// every running node caught up, and returns the leader.
func waitStable(ctx context.Context, c *proccluster.Cluster) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.WaitCaughtUp(ctx)
}

// logTails returns the last n lines of every node's log.
func logTails(c *proccluster.Cluster, n int) string {
	var b strings.Builder
	for i, node := range c.Nodes {
		lines := strings.Split(strings.TrimRight(c.Log(i), "\n"), "\n")
		for _, l := range lines[max(0, len(lines)-n):] {
			fmt.Fprintf(&b, "  %s: %s\n", node.ID, l)
		}
	}
	return b.String()
}
