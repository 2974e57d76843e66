package harness

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// LiveCluster is a real cluster a live run drives: faults plus where its
// clients connect, and a way to tell whether a fault took effect.
type LiveCluster interface {
	nemesis.Faults
	// Client returns a client of the system under test that talks to node.
	Client(node string) workload.Client
	// Evidence reports whether a fault just applied has taken effect.
	Evidence(ctx context.Context, a nemesis.Action) (bit bool, detail string)
}

// LiveOptions tune a live run.
type LiveOptions struct {
	// NemesisInterval is how long each fault lasts; quiet periods between
	// faults last half of it. Default 10s (Jepsen's).
	NemesisInterval time.Duration
	// ClientTimeout bounds one attempt of an operation. Default 1s.
	ClientTimeout time.Duration
	// Retries of an indefinite write or cas, with the same session at the
	// next node. Default 2; negative: none (for systems that cannot
	// deduplicate a retry).
	Retries int
	// Recovery bounds the wait for a leader after the final heal.
	Recovery time.Duration
	// Progress receives a live status line every second (nil: none),
	// rewritten in place on a terminal; ProgressLines prints it as a new
	// line every 5 seconds instead, for logs.
	Progress      io.Writer
	ProgressLines bool
}

func (o *LiveOptions) defaults() {
	if o.NemesisInterval <= 0 {
		o.NemesisInterval = 10 * time.Second
	}
	if o.ClientTimeout <= 0 {
		o.ClientTimeout = time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Recovery <= 0 {
		o.Recovery = 30 * time.Second
	}
}

// Stream returns the named sub-stream of a run's seed. Each concern
// (network, clients, nemesis, each node's boot) draws from its own, so
// adding a client does not reshuffle the faults. The simulator and live
// runs share it.
func Stream(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// live is one run in progress.
type live struct {
	cfg     TestConfig
	opts    LiveOptions
	cl      LiveCluster
	rec     *workload.Recorder
	nodes   []string
	genMu   sync.Mutex
	gen     *workload.Generator
	procMu  sync.Mutex
	nextPID int
	fault   atomic.Value // string: the fault in place, for the progress line
	faults  []Fault
}

// RunLive runs a test against a real cluster in real time: clients and
// the nemesis for cfg.TimeLimit, then a heal, recovery and a final read of
// every key. Timestamps come from one monotonic clock.
func RunLive(ctx context.Context, cl LiveCluster, cfg TestConfig, opts LiveOptions) (Outcome, error) {
	opts.defaults()
	start := time.Now()
	l := &live{cfg: cfg, opts: opts, cl: cl, nodes: cl.Nodes(), nextPID: cfg.Concurrency,
		rec: workload.NewRecorder(func() int64 { return int64(time.Since(start)) }),
		gen: workload.NewGenerator(workload.GeneratorConfig{}, Stream(cfg.Seed, "workload"))}
	l.fault.Store("none")
	// Start the clock for the workload only once the cluster serves.
	if err := l.awaitLeader(ctx); err != nil {
		return Outcome{}, err
	}

	phase, stop := context.WithTimeout(ctx, time.Duration(cfg.TimeLimit))
	defer stop()
	var wg sync.WaitGroup
	for slot := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.client(phase, slot)
		}()
	}
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		l.nemesis(phase)
	}()
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		l.progress(phase, start)
	}()
	wg.Wait()
	<-nemesisDone
	<-progressDone
	if ctx.Err() != nil {
		return Outcome{}, fmt.Errorf("interrupted: %w", ctx.Err())
	}

	// Undo every fault, wait for a leader, then read every key once more:
	// an acknowledged write that was lost shows up here.
	heal := nemesis.Action{F: "heal-all"}
	l.rec.Nemesis(checker.Invoke, heal.F, nil)
	if err := nemesis.HealAll(ctx, cl); err != nil {
		return Outcome{}, fmt.Errorf("final heal: %w", err)
	}
	l.rec.Nemesis(checker.Info, heal.F, nil)
	if err := l.awaitLeader(ctx); err != nil {
		return Outcome{}, err
	}
	l.finalReads(ctx)
	if opts.Progress != nil && !opts.ProgressLines {
		fmt.Fprintln(opts.Progress)
	}
	return Outcome{Events: l.rec.Events(), StartedAt: start, Duration: time.Since(start), Faults: l.faults}, nil
}

func (l *live) newProcess() int {
	l.procMu.Lock()
	defer l.procMu.Unlock()
	p := l.nextPID
	l.nextPID++
	return p
}

// client is one process slot: think, invoke, settle, record, repeat.
func (l *live) client(ctx context.Context, slot int) {
	rng := Stream(l.cfg.Seed, fmt.Sprintf("client/%d", slot))
	process := slot
	var seq uint64
	mean := float64(l.cfg.Concurrency) / l.cfg.Rate * float64(time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(rng.ExpFloat64() * mean)):
		}
		l.genMu.Lock()
		op := l.gen.Next()
		l.genMu.Unlock()
		seq++
		res := l.perform(context.WithoutCancel(ctx), slot, process, op, workload.Session{ClientID: fmt.Sprintf("p%d", process), Seq: seq})
		if res.Outcome == workload.Info {
			process, seq = l.newProcess(), 0
		}
	}
}

// perform records and runs one operation with its retries.
func (l *live) perform(ctx context.Context, slot, process int, op workload.Op, s workload.Session) workload.Result {
	l.rec.Invoke(process, op)
	var res workload.Result
	for attempt := 0; ; attempt++ {
		node := l.nodes[(slot+attempt)%len(l.nodes)]
		c := l.cl.Client(node)
		actx, cancel := context.WithTimeout(ctx, l.opts.ClientTimeout)
		switch op.F {
		case checker.Read:
			res = c.Read(actx, op.Key)
		case checker.Write:
			res = c.Write(actx, op.Key, op.Value, s)
		default:
			res = c.CAS(actx, op.Key, op.From, op.To, s)
		}
		cancel()
		if op.F == checker.Read {
			break // a read has no effect: anything but ok is a fail
		}
		final, again := workload.Settle(attempt, res)
		res = final
		if !again || attempt >= l.opts.Retries {
			break
		}
	}
	if op.F == checker.Read && res.Outcome != workload.OK {
		res.Outcome = workload.Fail
	}
	l.rec.Complete(process, op, res)
	return res
}

// nemesis injects faults until ctx ends: a fault, NemesisInterval of it,
// its recovery, half an interval of quiet.
func (l *live) nemesis(ctx context.Context) {
	sched := nemesis.NewSchedule(l.cfg.Nemesis, l.nodes, Stream(l.cfg.Seed, "nemesis"))
	if sched.Empty() {
		return
	}
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for wait(l.opts.NemesisInterval / 2) {
		leader, _ := l.cl.Leader(ctx)
		fault, recovery := sched.Next(leader)
		l.act(context.WithoutCancel(ctx), fault, true)
		wait(l.opts.NemesisInterval)
		l.act(context.WithoutCancel(ctx), recovery, false)
	}
}

// act applies an action, records it in the history, and for a fault
// collects the evidence that it bit.
func (l *live) act(ctx context.Context, a nemesis.Action, isFault bool) {
	l.rec.Nemesis(checker.Invoke, a.F, a.Describe())
	startNS := l.rec.Now()
	err := nemesis.Apply(ctx, l.cl, a)
	if err != nil {
		l.rec.Nemesis(checker.Info, a.F, checker.StringValue(err.Error()))
	} else {
		l.rec.Nemesis(checker.Info, a.F, a.Describe())
	}
	if !isFault {
		l.fault.Store("none")
		if n := len(l.faults); n > 0 {
			l.faults[n-1].End = l.rec.Now()
		}
		return
	}
	l.fault.Store(a.String())
	f := Fault{Action: a.String(), Start: startNS}
	if err != nil {
		bit := false
		f.Bit, f.Evidence = &bit, "failed to inject: "+err.Error()
	} else {
		bit, detail := l.cl.Evidence(ctx, a)
		f.Bit, f.Evidence = &bit, detail
	}
	l.faults = append(l.faults, f)
}

// progress prints a status line every second until ctx ends.
func (l *live) progress(ctx context.Context, start time.Time) {
	if l.opts.Progress == nil {
		return
	}
	every, format := time.Second, "\r%5.0fs  ok %-6d fail %-6d info %-4d  fault: %-40s"
	if l.opts.ProgressLines {
		every, format = 5*time.Second, "%5.0fs  ok %-6d fail %-6d info %-4d  fault: %s\n"
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c := l.rec.Counts()
			fmt.Fprintf(l.opts.Progress, format, time.Since(start).Seconds(), c[workload.OK], c[workload.Fail], c[workload.Info], l.fault.Load())
		}
	}
}

func (l *live) awaitLeader(ctx context.Context) error {
	deadline := time.Now().Add(l.opts.Recovery)
	for time.Now().Before(deadline) {
		if leader, err := l.cl.Leader(ctx); err == nil && leader != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no leader %v after the final heal: the cluster did not recover", l.opts.Recovery)
}

// finalReads reads every key used, retrying a failed read a few times.
func (l *live) finalReads(ctx context.Context) {
	keys := l.gen.Keys()
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			process := l.newProcess()
			op := workload.Op{F: checker.Read, Key: key}
			for try := 0; try < 5; try++ {
				if l.perform(ctx, i+try, process, op, workload.Session{}).Outcome == workload.OK {
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}
