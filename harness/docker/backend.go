package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// Settings are docker's own settings of a run: test.json's
// backend_config for a docker run.
type Settings struct {
	// Image is the image the nodes ran; ImageID its content ID then, so a
	// replay can tell whether the image changed since.
	Image   string `json:"image"`
	ImageID string `json:"image_id,omitempty"`
	// LazyFS keeps the nodes' data on lazyfs (for lose-unfsynced): then
	// every kill is a power failure too. Latency routes peer traffic
	// through netdelay (for latency).
	LazyFS  LazyFSMode `json:"lazyfs,omitempty"`
	Latency bool       `json:"latency,omitempty"`
}

// Resolve completes a test configuration for docker: engine settings
// left zero take docker's defaults, and image (ImageFor) is recorded with
// its ID. The image must exist (EnsureImage).
func Resolve(ctx context.Context, tc store.TestConfig, image string) (store.TestConfig, error) {
	def := func(d *store.Duration, v time.Duration) {
		if *d == 0 {
			*d = store.Duration(v)
		}
	}
	def(&tc.ElectionTimeout, 500*time.Millisecond)
	def(&tc.NemesisInterval, 5*time.Second)
	def(&tc.ClientTimeout, time.Second)
	def(&tc.Recovery, 30*time.Second)
	if tc.Retries == 0 {
		tc.Retries = 2
		if tc.Target == "etcd" {
			tc.Retries = -1 // etcd cannot tell a retried write from a new one
		}
	}
	set := Settings{Image: image, Latency: slices.Contains(tc.Nemesis, "latency")}
	if slices.Contains(tc.Nemesis, "lose-unfsynced") {
		// etcd fsyncs no directory after creating its WAL: it relies on a
		// journaling file system's ordering, which strict POSIX lacks.
		set.LazyFS = LazyFSStrict
		if tc.Target == "etcd" {
			set.LazyFS = LazyFSJournal
		}
	}
	id, err := ImageID(ctx, set.Image)
	if err != nil {
		return tc, err
	}
	set.ImageID = id
	b, err := json.Marshal(set)
	if err != nil {
		return tc, err
	}
	tc.BackendConfig = b
	return tc, nil
}

// RecordedImageID is the image ID a stored configuration ran with, "" if
// it has none.
func RecordedImageID(tc store.TestConfig) string {
	var set Settings
	if json.Unmarshal(tc.BackendConfig, &set) != nil {
		return ""
	}
	return set.ImageID
}

// target is the system a configuration tests, with its settings.
func target(tc store.TestConfig) Target {
	if tc.Target == "etcd" {
		return Etcd(time.Duration(tc.ElectionTimeout))
	}
	return Raftnode()
}

// Backend is a cluster in containers driven by the engine in real time.
type Backend struct {
	*Cluster
	rt      *harness.RealTime
	clients map[string]workload.Client
	closers []func()
}

var _ harness.Backend = (*Backend)(nil)

// Open starts the cluster of a resolved configuration and connects a
// client to every node. The run's clock starts once every node answers.
// Close must be called, whatever happens.
func Open(ctx context.Context, tc store.TestConfig, log io.Writer) (*Backend, error) {
	var set Settings
	if err := json.Unmarshal(tc.BackendConfig, &set); err != nil || set.Image == "" {
		return nil, fmt.Errorf("docker: the configuration is not resolved (backend_config %s)", tc.BackendConfig)
	}
	t := target(tc)
	var args []string
	if tc.Target != "etcd" {
		args = []string{"--election-timeout", time.Duration(tc.ElectionTimeout).String(),
			"--request-timeout", time.Duration(tc.ClientTimeout).String()}
		if tc.Unsafe != "" {
			args = append(args, "--unsafe", tc.Unsafe)
		}
	}
	fmt.Fprintf(log, "starting %d %s containers (%s)...\n", tc.Nodes, t.Name, set.Image)
	started := time.Now()
	cl, err := Start(ctx, Config{Nodes: tc.Nodes, Target: t, Image: set.Image, Args: args,
		LazyFS: set.LazyFS, Latency: set.Latency, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	b := &Backend{Cluster: cl, clients: map[string]workload.Client{}}
	if err := b.connect(tc); err != nil {
		b.Close()
		return nil, err
	}
	fmt.Fprintf(log, "cluster up in %v; running for %v\n", time.Since(started).Round(100*time.Millisecond), time.Duration(tc.TimeLimit))
	b.rt = harness.NewRealTime()
	return b, nil
}

// connect makes the target's clients: raftnode's HTTP clients share one
// pool, or a node's pipelined connections; etcd gets one connection per
// member.
func (b *Backend) connect(tc store.TestConfig) error {
	if tc.Target != "etcd" && tc.PipelinedConns > 0 {
		for _, n := range b.Nodes() {
			pc := workload.NewPipelinedClient(b.ClientAddr(n), tc.PipelinedConns)
			b.closers = append(b.closers, pc.Close)
			b.clients[n] = pc
		}
		return nil
	}
	if tc.Target != "etcd" {
		hc := workload.NewHTTPClient(tc.Concurrency)
		b.closers = append(b.closers, hc.CloseIdleConnections)
		for _, n := range b.Nodes() {
			b.clients[n] = workload.NewRaftnodeClient(b.ClientAddr(n), hc)
		}
		return nil
	}
	reads, err := workload.ParseEtcdReads(tc.EtcdReads)
	if err != nil {
		return err
	}
	for _, n := range b.Nodes() {
		cli, err := workload.DialEtcd(b.ClientAddr(n))
		if err != nil {
			return fmt.Errorf("connect to etcd member %s: %w", n, err)
		}
		b.closers = append(b.closers, func() { closeEtcd(cli) })
		b.clients[n] = workload.NewEtcdClient(cli, reads)
	}
	return nil
}

// closeEtcd releases a connection; there is no error to act on.
func closeEtcd(cli *clientv3.Client) { _ = cli.Close() }

// Close closes the clients and removes the containers, even after Ctrl-C.
func (b *Backend) Close() error {
	for _, c := range b.closers {
		c()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return b.Cluster.Close(ctx)
}

func (b *Backend) Runtime() harness.Runtime { return b.rt }

func (b *Backend) Status(ctx context.Context, node string) (harness.NodeStatus, error) {
	st, err := b.Cluster.Status(ctx, node)
	return harness.NodeStatus{Role: st.Role, Term: st.Term, Leader: st.Leader, Commit: st.Commit}, err
}

func (b *Backend) Invoke(ctx context.Context, node string, op workload.Op, s workload.Session, timeout time.Duration) workload.Result {
	c, ok := b.clients[node]
	if !ok {
		return workload.Result{Outcome: workload.Fail, Err: fmt.Errorf("no node %q", node)}
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch op.F {
	case checker.Read:
		return c.Read(actx, op.Key)
	case checker.Write:
		return c.Write(actx, op.Key, op.Value, s)
	}
	return c.CAS(actx, op.Key, op.From, op.To, s)
}

// Begin: containers have no nemeses of their own.
func (b *Backend) Begin(func(nemesis.Action)) bool { return true }
func (b *Backend) End()                            {}

// Run runs a resolved test in containers: start the cluster, run the
// engine, collect the node logs, remove the cluster.
func Run(ctx context.Context, tc store.TestConfig, out io.Writer, inPlace bool) (harness.Finished, error) {
	if err := Available(ctx); err != nil {
		return harness.Finished{}, err
	}
	if n, err := CleanupOrphans(ctx); err != nil {
		return harness.Finished{}, fmt.Errorf("remove leftovers of earlier runs: %w", err)
	} else if n > 0 {
		fmt.Fprintf(out, "removed %d leftover containers/networks/volumes of an interrupted run\n", n)
	}
	started := time.Now()
	b, err := Open(ctx, tc, out)
	if err != nil {
		return harness.Finished{}, err
	}
	defer func() {
		if err := b.Close(); err != nil {
			fmt.Fprintf(out, "warning: removing the cluster: %v (run 'raftcheck cleanup')\n", err)
		}
	}()
	o, err := harness.Run(ctx, b, tc, harness.Options{Progress: out, ProgressInPlace: inPlace})
	if err != nil {
		return harness.Finished{}, err
	}
	fin := harness.Finished{Config: tc, Outcome: o, StartedAt: started, Wall: time.Since(started)}
	// The logs are taken before the containers go (the deferred Close),
	// into a directory of their own until the run directory exists.
	logs, lerr := os.MkdirTemp("", "raftcheck-logs-")
	if lerr == nil {
		lerr = b.CopyLogs(context.WithoutCancel(ctx), logs)
	}
	fin.Attach = func(ctx context.Context, dir string) error {
		defer os.RemoveAll(logs)
		if lerr != nil {
			return lerr
		}
		return moveFiles(logs, filepath.Join(dir, store.NodesDir))
	}
	return fin, nil
}

// moveFiles moves the files of directory from into directory to, by
// copy: the two may be on different file systems.
func moveFiles(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
