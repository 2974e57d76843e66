// Command benchcompare races raftnode against etcd: a 3-node raftnode
// cluster and a 3-member etcd cluster in containers on this machine, the
// same workloads against both in one run, alternating between them so
// that drift in the machine's load hits both:
//
//   - write-only and read-heavy (90% linearizable reads), each with 1
//     and 64 concurrent closed-loop clients against the leader:
//     throughput and p50/p99/p999 latency;
//   - failover: kill -9 of the leader, then the time to the first write
//     acknowledged through a survivor, over several trials.
//
// It prints a table and writes the figures as JSON to
// RESULTS/bench-compare/<time>/results.json, the nodes' logs beside it.
// Build the images first (make image etcd-image); `make bench-compare`
// does both.
//
//	go run ./cmd/benchcompare [--duration 5s] [--rounds 3] [--failovers 10] [--results results]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

func main() {
	// testcontainers prints a banner through its package logger.
	tclog.SetDefault(log.New(io.Discard, "", 0))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	duration        time.Duration
	rounds          int
	clients         []int
	readFrac        float64
	failovers       int
	electionTimeout time.Duration
	etcdConns       int
	raftnodeConns   int
	raftnodeImage   string
	etcdImage       string
	results         string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("benchcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of one throughput run (each scenario runs --rounds times per system)")
	fs.IntVar(&cfg.rounds, "rounds", 3, "runs per scenario and system, alternating which system goes first (0: no load runs)")
	clients := fs.String("clients", "1,64", "comma-separated concurrent client counts")
	fs.Float64Var(&cfg.readFrac, "read-frac", 0.9, "share of reads in the read-heavy workload")
	fs.IntVar(&cfg.failovers, "failovers", 10, "failover trials per system (kill -9 of the leader)")
	fs.DurationVar(&cfg.electionTimeout, "election-timeout", 500*time.Millisecond, "both systems' election timeout; heartbeat a tenth of it")
	fs.IntVar(&cfg.etcdConns, "etcd-conns", 8, "gRPC connections per etcd member shared by the clients")
	fs.IntVar(&cfg.raftnodeConns, "raftnode-conns", 8, "HTTP/1.1 connections per raftnode member shared by the clients, pipelined, half for reads and half for writes (0: net/http, one connection per client)")
	fs.StringVar(&cfg.raftnodeImage, "raftnode-image", "raftcheck/raftnode:dev", "raftnode image (make image)")
	fs.StringVar(&cfg.etcdImage, "etcd-image", "raftcheck/etcd:dev", "etcd image (make etcd-image)")
	fs.StringVar(&cfg.results, "results", "results", "results directory; the JSON goes to RESULTS/bench-compare/")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(*clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("--clients: %q is not a positive integer", s)
		}
		cfg.clients = append(cfg.clients, n)
	}
	switch {
	case cfg.duration <= 0 || cfg.rounds < 0 || cfg.failovers < 0:
		return cfg, errors.New("--duration must be positive, --rounds and --failovers not negative")
	case cfg.readFrac < 0 || cfg.readFrac > 1:
		return cfg, errors.New("--read-frac must be within [0, 1]")
	case cfg.etcdConns < 1:
		return cfg, errors.New("--etcd-conns must be at least 1")
	case cfg.raftnodeConns < 0:
		return cfg, errors.New("--raftnode-conns must not be negative (0: one connection per client)")
	case cfg.electionTimeout < 20*time.Millisecond:
		return cfg, errors.New("--election-timeout must be at least 20ms")
	}
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	maxClients := 1
	for _, n := range cfg.clients {
		maxClients = max(maxClients, n)
	}
	res := newResults(cfg)

	log.Info("starting both clusters", "raftnode", cfg.raftnodeImage, "etcd", cfg.etcdImage)
	systems, closeAll, err := startSystems(ctx, cfg, maxClients, log)
	defer closeAll()
	if err != nil {
		return err
	}

	for _, sc := range scenarios(cfg) {
		for round := range cfg.rounds {
			for _, sys := range alternate(systems, round) {
				if err := ctx.Err(); err != nil {
					return err
				}
				leader, err := waitStable(ctx, sys)
				if err != nil {
					return err
				}
				log.Info("load", "system", sys.name, "scenario", sc.name(), "round", round+1, "leader", leader)
				s, err := runLoad(ctx, sys, leader, sc, cfg.duration)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sys.name, sc.name(), err)
				}
				res.addLoad(sys.name, sc, s)
			}
		}
	}

	for trial := range cfg.failovers {
		for _, sys := range alternate(systems, trial) {
			f, err := failover(ctx, sys)
			if err != nil {
				return fmt.Errorf("%s failover trial %d: %w", sys.name, trial+1, err)
			}
			log.Info("failover", "system", sys.name, "trial", trial+1, "killed", f.Killed, "ms", f.Ms, "kill_ms", f.KillMs, "first_write_via", f.FirstWriteVia)
			res.addFailover(sys.name, f)
		}
	}

	res.finish()
	if err := res.writeTable(stdout); err != nil {
		return err
	}
	path, err := res.save(cfg.results)
	if err != nil {
		return err
	}
	// The logs span every restart: they explain a slow failover.
	for _, sys := range systems {
		dir := filepath.Join(res.runDir(cfg.results), "nodes", sys.name)
		if err := sys.cl.CopyLogs(ctx, dir); err != nil {
			log.Warn("copying node logs", "system", sys.name, "err", err)
		}
	}
	fmt.Fprintf(stdout, "\nsaved %s (node logs beside it)\n", path)
	return nil
}

// alternate returns the systems in turn order for round i: the first
// goes first in even rounds, last in odd ones.
func alternate(systems []*system, i int) []*system {
	if i%2 == 0 {
		return systems
	}
	out := make([]*system, len(systems))
	for j, s := range systems {
		out[len(systems)-1-j] = s
	}
	return out
}
