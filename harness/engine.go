package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// Options tune what a run shows while it runs; they do not change what it
// does (that is all in the TestConfig).
type Options struct {
	// Progress receives the live status: a line rewritten in place every
	// second when ProgressInPlace (a terminal), else a plain timestamped
	// line every ProgressEvery. Nil: none.
	Progress        io.Writer
	ProgressInPlace bool
	ProgressEvery   time.Duration
	// StatusEvery is how often each node's status is sampled for
	// statuses.jsonl. Default 500ms.
	StatusEvery time.Duration
}

// Outcome is a finished run: its history and what the engine observed.
type Outcome struct {
	Events   []checker.Event
	Statuses []store.StatusSample
	// Faults are the faults injected, each through its recovery, with the
	// evidence that it bit.
	Faults   []store.Fault
	Duration time.Duration // in the runtime's time
	Notes    []string
	// Invariant is the first invariant the backend saw broken ("" if
	// none, or if the backend checks none).
	Invariant string
	// NotLive says how the cluster failed to serve after the final heal
	// ("" if it elected a leader and acknowledged a write in time).
	NotLive string
}

// run is one run in progress.
type run struct {
	cfg   store.TestConfig
	opts  Options
	b     Backend
	rt    Runtime
	nodes []string
	rec   *workload.Recorder
	genMu sync.Mutex // docker's processes are goroutines
	gen   *workload.Generator

	mu      sync.Mutex // the fields below; docker processes are goroutines
	nextPID int
	samples []store.StatusSample
	faults  faultLog
	// sawLeader records that the cluster had a leader at some point, to
	// tell a cluster that never formed from one that did not recover.
	sawLeader bool
}

// Run runs the test cfg (resolved: every engine setting set) against b,
// from the first leader to the final reads. It returns an error only when
// the harness could not do its job (the cluster never elected a leader,
// a heal failed, the run was interrupted); a broken system is a verdict,
// found later in the history.
func Run(ctx context.Context, b Backend, cfg store.TestConfig, opts Options) (Outcome, error) {
	if err := checkResolved(cfg); err != nil {
		return Outcome{}, err
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = 500 * time.Millisecond
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 5 * time.Second
	}
	rt := b.Runtime()
	r := &run{cfg: cfg, opts: opts, b: b, rt: rt, nodes: b.Nodes(), nextPID: cfg.Concurrency,
		rec: workload.NewRecorder(func() int64 { return int64(rt.Now()) }),
		gen: workload.NewGenerator(workload.GeneratorConfig{OpsPerKey: cfg.OpsPerKey}, Stream(cfg.Seed, "workload"))}
	r.faults.evidence = map[int]evidence{}
	// The backend's own nemeses may strike from the start, and the
	// clients start at once: a cluster's first election, under load, is
	// among its most contested moments.
	clockNemesis := b.Begin(r.act)
	// So do the faults: Jepsen's nemesis does not wait for the cluster to
	// form either.
	end := time.Duration(cfg.TimeLimit)
	var procs []func()
	for slot := range cfg.Concurrency {
		procs = append(procs, func() { r.client(ctx, slot, end) })
	}
	switch {
	case len(cfg.Schedule) > 0:
		procs = append(procs, func() { r.scripted(ctx, cfg.Schedule) })
	case clockNemesis:
		procs = append(procs, func() { r.nemesis(ctx, end) })
	}
	// The samplers run until the final reads are done, in their own
	// processes beside the workload and then the recovery.
	sctx, stopSamplers := context.WithCancel(ctx)
	defer stopSamplers()
	samplers := func() {
		rt.Parallel(func() { r.sample(sctx) }, func() { r.progress(sctx) })
	}
	var runErr error
	var notLive string
	rt.Parallel(samplers, func() {
		defer stopSamplers()
		rt.Parallel(procs...)
		b.End()
		notLive, runErr = r.finish(ctx)
	})
	if runErr != nil {
		return Outcome{}, runErr
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, fmt.Errorf("interrupted: %w", err)
	}
	events := r.rec.Events()
	out := Outcome{Events: events, Statuses: r.samples, Faults: r.faults.record(events),
		Duration: rt.Now(), NotLive: notLive}
	if ic, ok := b.(InvariantChecker); ok {
		if err := ic.Violation(); err != nil {
			out.Invariant = err.Error()
		}
	}
	return out, nil
}

// finish heals every fault, checks that the cluster serves again, and
// reads every key once more: an acknowledged write that was lost shows
// here. A cluster that does not serve in time is not live, a verdict of
// its own; one that never had a leader at all is a harness error (it
// never formed: a setup problem, not a finding).
func (r *run) finish(ctx context.Context) (notLive string, err error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("interrupted: %w", err)
	}
	healErr := r.healAll(ctx)
	if healErr != nil && !errors.Is(healErr, nemesis.ErrNotRestored) {
		return "", fmt.Errorf("final heal: %w", healErr)
	}
	notLive = r.probeLiveness(ctx)
	if healErr != nil {
		// The slots left out shrink the cluster: not the cluster the
		// run began with, whether or not it serves.
		notLive = strings.TrimPrefix(notLive+"; ", "; ") + healErr.Error()
	}
	if notLive != "" {
		if err := r.awaitLeader(ctx); err != nil && !r.formed() {
			return "", err
		}
	}
	r.finalReads(ctx)
	return notLive, nil
}

// liveWithin is the bound on a healed cluster electing a leader and
// acknowledging a write: ten election timeouts, and never less than five
// seconds (containers restart killed nodes first).
func (r *run) liveWithin() time.Duration {
	return max(10*time.Duration(r.cfg.ElectionTimeout), 5*time.Second)
}

// probeLiveness writes a probe key until a write is acknowledged, within
// liveWithin of the heal; "" if it was, else why not. The probe is an
// operation of the history like any other.
func (r *run) probeLiveness(ctx context.Context) string {
	bound := r.liveWithin()
	deadline := r.rt.Now() + bound
	process := r.newProcess()
	var seq uint64
	for r.rt.Now() < deadline {
		if ctx.Err() != nil {
			return ""
		}
		if leader, _ := r.leader(ctx); leader != "" {
			seq++
			op := workload.Op{F: checker.Write, Key: "liveness", Value: int64(seq)}
			res := r.perform(ctx, int(seq), process, op, workload.Session{ClientID: fmt.Sprintf("p%d", process), Seq: seq})
			if res.Outcome == workload.OK {
				return ""
			}
			if res.Outcome == workload.Info {
				process, seq = r.newProcess(), 0
			}
		}
		if r.rt.Sleep(ctx, 100*time.Millisecond) != nil {
			return ""
		}
	}
	if !r.formed() {
		return fmt.Sprintf("the cluster never had a leader, and none came within %v of the final heal", bound)
	}
	if leader, _ := r.leader(ctx); leader == "" {
		return fmt.Sprintf("no leader within %v (10 election timeouts) of the final heal", bound)
	}
	return fmt.Sprintf("a leader, but no write acknowledged within %v (10 election timeouts) of the final heal", bound)
}

func (r *run) formed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sawLeader
}

func (r *run) newProcess() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.nextPID
	r.nextPID++
	return p
}

// awaitLeader polls until the cluster has a leader, for at most Recovery.
func (r *run) awaitLeader(ctx context.Context) error {
	deadline := r.rt.Now() + time.Duration(r.cfg.Recovery)
	for {
		if leader, _ := r.leader(ctx); leader != "" {
			return nil
		}
		if r.rt.Now() >= deadline {
			if !r.formed() {
				return fmt.Errorf("no leader within %v of the final heal, nor at any time before it: the cluster never elected one (do the nodes reach each other? see the node logs)", time.Duration(r.cfg.Recovery))
			}
			return fmt.Errorf("no leader within %v of the final heal: the cluster did not recover", time.Duration(r.cfg.Recovery))
		}
		if err := r.rt.Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("interrupted waiting for a leader: %w", err)
		}
	}
}

// checkResolved refuses a configuration the backend has not resolved:
// the engine has no defaults of its own, so test.json says what ran.
func checkResolved(cfg store.TestConfig) error {
	switch {
	case cfg.TimeLimit <= 0, cfg.Concurrency < 1, cfg.Rate <= 0:
		return fmt.Errorf("engine: time limit, concurrency and rate must be positive")
	case cfg.NemesisInterval <= 0 || cfg.ClientTimeout <= 0 || cfg.Recovery <= 0:
		return fmt.Errorf("engine: the configuration is not resolved (nemesis interval %v, client timeout %v, recovery %v)",
			cfg.NemesisInterval, cfg.ClientTimeout, cfg.Recovery)
	}
	return nil
}
