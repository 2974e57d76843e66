// Command raftnode is one member of a Raft-replicated register service.
//
//	raftnode --id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 \
//	         --client-addr 127.0.0.1:8001 --data-dir /var/lib/raftnode
//
// It listens for peers on its own entry in --peers and for clients on
// --client-addr. A restart with the same --data-dir resumes where it was.
// With --join it starts with an empty --data-dir and no configuration,
// and waits to be added (POST /v1/members on the leader): --peers then
// names this node and the members it must reach.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/server"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "raftnode:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("raftnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		id         = fs.String("id", "", "this node's id, one of the names in --peers")
		peers      = fs.String("peers", "", "every member as id=host:port for peer traffic, comma-separated")
		clientAddr = fs.String("client-addr", "127.0.0.1:8001", "address of the client HTTP API")
		dataDir    = fs.String("data-dir", "", "directory for the log and snapshots")
		join       = fs.Bool("join", false, "start with no configuration and wait to be added to a running cluster (POST /v1/members on its leader); --data-dir must be new")
		heartbeat  = fs.Duration("heartbeat", server.DefaultHeartbeat, "leader heartbeat interval")
		election   = fs.Duration("election-timeout", server.DefaultElectionTimeout, "election timeout (randomized up to twice this)")
		tick       = fs.Duration("tick", server.DefaultTick, "clock resolution of the Raft core")
		reqTimeout = fs.Duration("request-timeout", server.DefaultRequestTimeout, "how long a client operation may take before it answers info")
		snapEvery  = fs.Uint64("snapshot-every", 10000, "take a snapshot and compact the log every N applied entries")
		unsafe     = fs.String("unsafe", "", "DANGER: enable a deliberate bug to test the harness: one or more of "+strings.Join(replica.UnsafeModes(), ","))
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
		logFormat  = fs.String("log-format", "text", "text or json")
	)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	peerMap, err := parsePeers(*peers)
	if err != nil {
		return fmt.Errorf("%w: --peers: %v", errUsage, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	case "json":
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	default:
		return fmt.Errorf("%w: --log-format must be text or json", errUsage)
	}
	logger := slog.New(handler).With("node", *id)
	cfg := server.Config{
		ID: raft.NodeID(*id), Peers: peerMap, Join: *join, ClientAddr: *clientAddr, DataDir: *dataDir,
		Tick: *tick, Heartbeat: *heartbeat, ElectionTimeout: *election, RequestTimeout: *reqTimeout,
		SnapshotEvery: *snapEvery, Logger: logger,
	}
	if cfg.Unsafe, cfg.RaftUnsafe, err = replica.ParseUnsafe(*unsafe); err != nil {
		return fmt.Errorf("%w: --unsafe: %v", errUsage, err)
	}
	if *unsafe != "" {
		logger.Warn("UNSAFE MODE: this node is deliberately broken", "unsafe", *unsafe)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Run(ctx)
}

func parsePeers(s string) (map[raft.NodeID]string, error) {
	if s == "" {
		return nil, errors.New("required, e.g. n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003")
	}
	out := map[raft.NodeID]string{}
	for _, part := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("%q is not id=host:port", part)
		}
		if _, dup := out[raft.NodeID(name)]; dup {
			return nil, fmt.Errorf("id %q listed twice", name)
		}
		out[raft.NodeID(name)] = addr
	}
	return out, nil
}
