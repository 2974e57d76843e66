// Package docker runs a cluster in containers with testcontainers-go and
// injects real faults into it: iptables partitions inside each container,
// SIGKILL, and the cgroup freezer. Cluster implements nemesis.Faults. The
// system in the containers is a Target: raftnode by default, or etcd.
//
// Layout: one private bridge network with a subnet of its own; nodes
// n1..nN, each reachable by its name (a network alias) at a fixed IP; the
// target's client port mapped to a fixed port on 127.0.0.1. Each node
// keeps its data in a volume, so a killed and restarted node (the same
// container) resumes from its disk.
//
// Fixed IPs and host ports are chosen at Start and survive kill and
// restart: ClientAddr stays valid for the life of the cluster, and the
// partition rules, which name peers by source IP, stay true when a peer
// restarts.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// DefaultImage is the image `make image` builds.
const DefaultImage = "raftcheck/raftnode:dev"

// raftnode's ports inside each container.
const (
	PeerPort   = 7000
	ClientPort = 8000
)

const (
	dataDir      = "/var/lib/raftnode"
	startTimeout = 60 * time.Second // for every node to answer /v1/status
)

// Config describes a cluster.
type Config struct {
	Nodes  int      // 3 or 5, usually
	Target Target   // the system the nodes run; zero: Raftnode()
	Image  string   // overrides Target.Image
	Args   []string // extra flags for every node, after the target's own
	RunID  string   // value of LabelRun; default: a timestamp
	Logger *slog.Logger
	// LazyFS, unless "", keeps each node's data directory on lazyfs
	// (harness/lazyfs) over its volume, so LoseUnfsynced can simulate a
	// power failure: LazyFSStrict (a new file name is durable once its
	// directory is fsynced, as POSIX promises) or LazyFSJournal (any
	// fsync commits every name, as ext4's journal does in practice). The
	// containers then get /dev/fuse and CAP_SYS_ADMIN. lazyfs runs in the
	// node's container, so on such a cluster every Kill is a power
	// failure too: what the node did not fsync dies with the container.
	LazyFS LazyFSMode
	// Latency routes every incoming peer connection through netdelay
	// (harness/netdelay), so Degrade can add latency to links.
	Latency bool
}

// LazyFSMode says whether and how nodes keep their data on lazyfs.
type LazyFSMode string

// The modes of Config.LazyFS.
const (
	LazyFSOff     LazyFSMode = ""
	LazyFSStrict  LazyFSMode = "strict"
	LazyFSJournal LazyFSMode = "journal"
)

// Cluster is a running cluster in containers. Its methods are
// safe for concurrent use; fault injections are serialized.
type Cluster struct {
	cfg      Config
	log      *slog.Logger
	provider *testcontainers.DockerProvider
	api      client.APIClient
	network  *testcontainers.DockerNetwork
	nodes    []*node // sorted by name
	byName   map[string]*node
	http     *http.Client

	mu     sync.Mutex     // serializes faults
	grudge nemesis.Grudge // the partition in force; nil: none
	loss   *nemesis.LinkFault
	// What the last LoseUnfsynced, Corrupt and Degrade did, per node,
	// for Evidence.
	lost      map[string]loseResult
	corrupted map[string]nemesis.Corruption
	counters  map[string]linkCounters // loss counters when Degrade returned

	// opMu serializes membership changes, which take seconds; memMu
	// guards the slots' membership fields (written only under opMu too)
	// and changes, those not yet reported by Evidence.
	opMu    sync.Mutex
	memMu   sync.Mutex
	changes []memberChange
}

type node struct {
	name     string
	ip       netip.Addr
	hostPort int
	ctr      *testcontainers.DockerContainer
	// incarnation counts the members the slot has hosted after its first
	// (membership.go); removed is set while it hosts none; retired are
	// the containers of its earlier members.
	incarnation int
	removed     bool
	retired     []retired
}

// Start creates the network and the nodes, and returns once every node
// answers the target's Status (raftnode: GET /v1/status). On failure it removes whatever it created.
// It does not remove leftovers of earlier runs: that is Cleanup's job.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 || cfg.Nodes > 99 {
		return nil, fmt.Errorf("docker: Config.Nodes = %d; want 1 to 99 (3 or 5, usually)", cfg.Nodes)
	}
	if cfg.Target.Name == "" {
		cfg.Target = Raftnode()
	}
	if cfg.Image != "" {
		cfg.Target.Image = cfg.Image
	}
	if cfg.Target.ElectionTimeout <= 0 {
		cfg.Target.ElectionTimeout = electionTimeout(cfg.Args)
	}
	if cfg.Target.Image == "" || cfg.Target.Args == nil || cfg.Target.Status == nil || cfg.Target.ClientPort == 0 {
		return nil, fmt.Errorf("docker: target %q lacks an image, Args, Status or ClientPort: start from Raftnode() or Etcd()", cfg.Target.Name)
	}
	if cfg.LazyFS != LazyFSOff && cfg.LazyFS != LazyFSStrict && cfg.LazyFS != LazyFSJournal {
		return nil, fmt.Errorf("docker: Config.LazyFS = %q; want \"\", %q or %q", cfg.LazyFS, LazyFSStrict, LazyFSJournal)
	}
	if cfg.RunID == "" {
		cfg.RunID = time.Now().UTC().Format("20060102T150405.000000000Z")
	}
	if !validRunID.MatchString(cfg.RunID) {
		return nil, fmt.Errorf("docker: RunID %q: use letters, digits, '.', '_' and '-' only", cfg.RunID)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("component", "docker", "run", cfg.RunID)
	p, err := newProvider(log)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: log, provider: p, api: p.Client(), byName: map[string]*node{},
		http: workload.NewHTTPClient(4 * cfg.Nodes), lost: map[string]loseResult{},
		corrupted: map[string]nemesis.Corruption{}, counters: map[string]linkCounters{}}
	if err := c.start(ctx); err != nil {
		if cerr := c.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("and cleaning up after it: %w", cerr))
		}
		return nil, err
	}
	return c, nil
}

var validRunID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (c *Cluster) start(ctx context.Context) error {
	began := time.Now()
	if err := ping(ctx, c.api); err != nil {
		return err
	}
	t := c.cfg.Target
	if _, err := c.api.ImageInspect(ctx, t.Image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("image %s not found: build it with `%s`: %w", t.Image, t.BuildHint, err)
		}
		return fmt.Errorf("inspect image %s: %w", t.Image, err)
	}
	subnet, err := c.createNetwork(ctx)
	if err != nil {
		return err
	}
	ports, err := freePorts(c.cfg.Nodes)
	if err != nil {
		return err
	}
	var members []Member
	for i := range c.cfg.Nodes {
		name := fmt.Sprintf("n%d", i+1)
		n := &node{name: name, ip: nthAddr(subnet, 10+i), hostPort: ports[i]}
		c.nodes = append(c.nodes, n)
		c.byName[name] = n
		members = append(members, Member{Name: name, IP: n.ip})
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		args := append(t.Args(members[i], members), c.cfg.Args...)
		wg.Go(func() { errs[i] = c.createNode(ctx, n, args) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, n := range c.nodes {
		if err := c.waitStatus(ctx, n, startTimeout); err != nil {
			return err
		}
	}
	c.log.Info("cluster started", "target", t.Name, "nodes", c.cfg.Nodes, "subnet", subnet, "took", time.Since(began).Round(time.Millisecond))
	return nil
}

// createNetwork makes the private network with a subnet of its own, so
// nodes can have fixed IPs. A random /24 in 172.28.0.0/14 is tried until
// one does not overlap an existing network.
func (c *Cluster) createNetwork(ctx context.Context) (netip.Prefix, error) {
	var lastErr error
	for range 16 {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(28 + rand.IntN(4)), byte(rand.IntN(256)), 0}), 24)
		nw, err := tcnetwork.New(ctx,
			tcnetwork.WithLabels(c.labels("")),
			tcnetwork.WithIPAM(&network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet}}}))
		if err == nil {
			c.network = nw
			return subnet, nil
		}
		lastErr = err
		if !strings.Contains(strings.ToLower(err.Error()), "overlap") {
			break
		}
	}
	return netip.Prefix{}, fmt.Errorf("create the cluster's network: %w", lastErr)
}

func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

// freePorts asks the kernel for n unused loopback ports. Another process
// could take one before Docker binds it; Start then fails and says so.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) labels(nodeName string) map[string]string {
	l := map[string]string{LabelManaged: "true", LabelRun: c.cfg.RunID, LabelOwner: owner()}
	if nodeName != "" {
		l[LabelNode] = nodeName
	}
	return l
}

func (c *Cluster) createNode(ctx context.Context, n *node, args []string) error {
	t := c.cfg.Target
	clientPort := network.MustParsePort(fmt.Sprintf("%d/tcp", t.ClientPort))
	nwName := c.network.Name
	env := map[string]string{}
	if c.cfg.Latency {
		env["RAFTCHECK_DELAY_PORT"] = strconv.Itoa(t.PeerPort)
	}
	if c.cfg.LazyFS != LazyFSOff {
		env["RAFTCHECK_LAZYFS"] = t.DataDir
		if c.cfg.LazyFS == LazyFSJournal {
			env["RAFTCHECK_LAZYFS_FLAGS"] = "--journal"
		}
	}
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:          t.Image,
			Name:           fmt.Sprintf("raftcheck-%s-%s", c.cfg.RunID, n.memberID()),
			Cmd:            args,
			Labels:         c.labels(n.name),
			ExposedPorts:   []string{clientPort.String()},
			Networks:       []string{nwName},
			NetworkAliases: map[string][]string{nwName: {n.name}},
			Env:            env,
			HostConfigModifier: func(hc *container.HostConfig) {
				hc.CapAdd = append(hc.CapAdd, "NET_ADMIN")
				hc.PortBindings = network.PortMap{clientPort: {{
					HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(n.hostPort)}}}
				hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: c.diskDir(),
					VolumeOptions: &mount.VolumeOptions{Labels: c.labels(n.name)}})
				if c.cfg.LazyFS != LazyFSOff {
					hc.CapAdd = append(hc.CapAdd, "SYS_ADMIN")
					hc.Devices = append(hc.Devices, container.DeviceMapping{
						PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"})
				}
			},
			EndpointSettingsModifier: func(es map[string]*network.EndpointSettings) {
				if s := es[nwName]; s != nil {
					s.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: n.ip}
				}
			},
		},
		Started: true,
		Logger:  tcLogger{c.log},
	}
	ctr, err := testcontainers.GenericContainer(ctx, req)
	if ctr != nil {
		n.ctr = ctr.(*testcontainers.DockerContainer)
	}
	if err != nil {
		return fmt.Errorf("start %s (image %s): %w", n.name, t.Image, err)
	}
	return nil
}

// waitStatus polls the node's status until it answers; it gives up
// early, with the end of the node's log, if the container stops.
func (c *Cluster) waitStatus(ctx context.Context, n *node, timeout time.Duration) error {
	return c.waitUp(ctx, n, timeout, "its status", func(ctx context.Context) error {
		_, err := c.status(ctx, n)
		return err
	})
}

// waitUp polls up until it succeeds; it gives up early, with the end of
// the node's log, if the container stops.
func (c *Cluster) waitUp(ctx context.Context, n *node, timeout time.Duration, what string, up func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		err := up(sctx)
		scancel()
		if err == nil {
			return nil
		}
		if attempt%10 == 0 {
			if st, ierr := c.inspect(ctx, n); ierr == nil && !st.Running {
				return fmt.Errorf("%s stopped (exit code %d) before answering %s; its log ends:\n%s",
					n.name, st.ExitCode, what, c.containerOutput(ctx, n.ctr.GetContainerID()))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (%s) did not answer %s at %s within %v (see its log: docker logs %s): %w",
				n.name, c.cfg.Target.Name, what, n.addr(), timeout, n.ctr.GetContainerID()[:12], err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// status asks a node for its view of the cluster.
func (c *Cluster) status(ctx context.Context, n *node) (NodeStatus, error) {
	return c.cfg.Target.Status(ctx, c.http, n.addr())
}

// Status asks the named node for its view of the cluster. The leader is
// named by its slot, as the harness names nodes, whatever member it is.
func (c *Cluster) Status(ctx context.Context, name string) (NodeStatus, error) {
	n, err := c.node(name)
	if err != nil {
		return NodeStatus{}, err
	}
	st, err := c.status(ctx, n)
	if st.Leader != "" {
		c.memMu.Lock()
		st.Leader = c.slotOf(st.Leader)
		c.memMu.Unlock()
	}
	return st, err
}

// Nodes lists the node names, sorted.
func (c *Cluster) Nodes() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.name
	}
	slices.Sort(out)
	return out
}

// ClientAddr returns the node's client API address, 127.0.0.1:PORT, or ""
// for an unknown node. It is the same for the life of the cluster, across
// kill and restart: the host port is fixed when the container is created.
func (c *Cluster) ClientAddr(node string) string {
	n := c.byName[node]
	if n == nil {
		return ""
	}
	return n.addr()
}

func (n *node) addr() string {
	return fmt.Sprintf("127.0.0.1:%d", n.hostPort)
}

// Target returns the system the cluster runs.
func (c *Cluster) Target() Target { return c.cfg.Target }

// RunID returns the label value identifying this run's resources.
func (c *Cluster) RunID() string { return c.cfg.RunID }

// Close removes the containers, their volumes and the network, whatever
// state they are in. It works with a cancelled ctx: it uses a fresh
// deadline of its own.
func (c *Cluster) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	_, err := removeLabelled(ctx, c.api, LabelRun+"="+c.cfg.RunID)
	c.http.CloseIdleConnections()
	if cerr := c.provider.Close(); cerr != nil {
		c.log.Debug("closing the engine client", "err", cerr)
	}
	if err != nil {
		return fmt.Errorf("remove run %s (remove leftovers with `raftcheck cleanup`): %w", c.cfg.RunID, err)
	}
	c.log.Info("cluster removed")
	return nil
}

func (c *Cluster) node(name string) (*node, error) {
	n := c.byName[name]
	if n == nil {
		return nil, fmt.Errorf("docker: no node %q; nodes are %s", name, strings.Join(c.Nodes(), ", "))
	}
	return n, nil
}

func (c *Cluster) inspect(ctx context.Context, n *node) (*container.State, error) {
	res, err := c.api.ContainerInspect(ctx, n.ctr.GetContainerID(), client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", n.name, err)
	}
	if res.Container.State == nil {
		return nil, fmt.Errorf("inspect %s: the engine returned no state", n.name)
	}
	return res.Container.State, nil
}
