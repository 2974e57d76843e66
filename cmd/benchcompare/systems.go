package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/harness/docker"
	"github.com/raftcheck/raftcheck/workload"
)

// system is one cluster under load, with a pool of clients per node:
// worker i uses pool[i % len(pool)].
type system struct {
	name  string
	cl    *docker.Cluster
	pools map[string][]workload.Client
	// probes, when set, are the clients failover probes use instead of
	// the pools.
	probes map[string]workload.Client
}

// probe returns the client failover probe i uses against node.
func (s *system) probe(node string, i int) workload.Client {
	if c, ok := s.probes[node]; ok {
		return c
	}
	return s.client(node, i)
}

// client returns the client worker i uses against node.
func (s *system) client(node string, i int) workload.Client {
	pool := s.pools[node]
	return pool[i%len(pool)]
}

// startSystems starts both clusters in parallel and connects their
// clients. The returned func removes everything; call it even on error.
func startSystems(ctx context.Context, cfg config, maxClients int, log *slog.Logger) ([]*system, func(), error) {
	if err := docker.Available(ctx); err != nil {
		return nil, func() {}, err
	}
	heartbeat := cfg.electionTimeout / 10
	run := time.Now().UTC().Format("20060102T150405Z")
	confs := []docker.Config{
		{Nodes: 3, Target: docker.Raftnode(), Image: cfg.raftnodeImage, RunID: "bench-raftnode-" + run, Logger: log,
			Args: []string{"--election-timeout", cfg.electionTimeout.String(), "--heartbeat", heartbeat.String(), "--log-level", "warn"}},
		{Nodes: 3, Target: docker.Etcd(cfg.electionTimeout), Image: cfg.etcdImage, RunID: "bench-etcd-" + run, Logger: log,
			Args: []string{"--log-level", "warn"}},
	}
	clusters := make([]*docker.Cluster, len(confs))
	errs := make([]error, len(confs))
	done := make(chan int)
	for i, c := range confs {
		go func() {
			clusters[i], errs[i] = docker.Start(ctx, c)
			done <- i
		}()
	}
	for range confs {
		<-done
	}
	var closers []func()
	closeAll := func() {
		for _, f := range closers {
			f()
		}
	}
	for _, c := range clusters {
		if c != nil {
			closers = append(closers, func() {
				cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				if err := c.Close(cctx); err != nil {
					log.Warn("removing a cluster (run `raftcheck cleanup`)", "err", err)
				}
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, closeAll, err
	}

	hc := workload.NewHTTPClient(maxClients)
	closers = append(closers, hc.CloseIdleConnections)
	rn := &system{name: "raftnode", cl: clusters[0], pools: map[string][]workload.Client{},
		probes: map[string]workload.Client{}}
	for _, n := range rn.cl.Nodes() {
		// A pipelined connection answers in order, so a probe stuck on a
		// write the dead leader never answers would hold back the probes
		// behind it: failover is measured with a connection per probe.
		rn.probes[n] = workload.NewRaftnodeClient(rn.cl.ClientAddr(n), hc)
		if cfg.raftnodeConns == 0 {
			rn.pools[n] = []workload.Client{rn.probes[n]}
			continue
		}
		pc := workload.NewPipelinedClient(rn.cl.ClientAddr(n), workload.PerKind(cfg.raftnodeConns))
		closers = append(closers, pc.Close)
		rn.pools[n] = []workload.Client{pc}
	}
	et := &system{name: "etcd", cl: clusters[1], pools: map[string][]workload.Client{}}
	conns := min(cfg.etcdConns, maxClients)
	for _, n := range et.cl.Nodes() {
		for range conns {
			cli, err := workload.DialEtcd(et.cl.ClientAddr(n))
			if err != nil {
				return nil, closeAll, fmt.Errorf("connect to etcd member %s: %w", n, err)
			}
			closers = append(closers, func() { cli.Close() })
			et.pools[n] = append(et.pools[n], workload.NewEtcdClient(cli, workload.Linearizable))
		}
	}
	return []*system{rn, et}, closeAll, nil
}

// raftnodeConns describes how raftnode's clients connect, for the report.
func raftnodeConns(cfg config) string {
	if cfg.raftnodeConns == 0 {
		return "one per client (net/http)"
	}
	k := workload.PerKind(cfg.raftnodeConns)
	return fmt.Sprintf("%d (HTTP/1.1 pipelined: %d for reads, %d for writes)", 2*k, k, k)
}

// waitStable waits up to 30 s until every node answers and all name the
// same leader, then returns it.
func waitStable(ctx context.Context, s *system) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last []string
	for {
		leader, views := "", []string(nil)
		agree := true
		for _, n := range s.cl.Nodes() {
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			st, err := s.cl.Status(sctx, n)
			scancel()
			switch {
			case err != nil:
				views = append(views, n+": "+err.Error())
				agree = false
			case st.Leader == "" || (leader != "" && st.Leader != leader):
				views = append(views, n+" follows "+st.Leader)
				agree = false
			default:
				leader = st.Leader
				views = append(views, n+" follows "+st.Leader)
			}
		}
		if agree && leader != "" {
			return leader, nil
		}
		last = views
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no leader all nodes agree on within 30s (%s): %w", s.name, strings.Join(last, "; "), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
