// Package proccluster runs a raftnode cluster as real processes on
// loopback: for end-to-end tests and benchmarks that need real TCP, real
// fsync and a real SIGKILL, without Docker.
package proccluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

// Config describes a cluster.
type Config struct {
	Binary string // path to raftnode
	Nodes  int
	Dir    string   // data directories and logs go below it
	Args   []string // extra flags for every node
	// DataRoots, if set, holds one directory per node of Start: node i
	// keeps its data directory below DataRoots[i] instead of Dir, e.g.
	// one disk per node. Logs stay below Dir.
	DataRoots []string
}

// Node is one member.
type Node struct {
	ID         string
	PeerAddr   string
	ClientAddr string
	DataDir    string
	LogPath    string
	Client     *workload.RaftnodeClient
	// peers and args, if set, replace the cluster's --peers and add
	// flags for this node (AddNode).
	peers string
	args  []string

	mu   sync.Mutex
	proc *process // the latest run, exited or not; nil before the first
}

// process is one run of a node's binary.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once Wait has returned; cmd.ProcessState is set
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Cluster is a running set of raftnode processes.
type Cluster struct {
	cfg   Config
	Nodes []*Node
	peers string
	HTTP  *http.Client
}

// Start launches every node.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("proccluster: need at least one node")
	}
	if len(cfg.DataRoots) > 0 && len(cfg.DataRoots) != cfg.Nodes {
		return nil, fmt.Errorf("proccluster: %d data roots for %d nodes", len(cfg.DataRoots), cfg.Nodes)
	}
	ports, err := freePorts(2 * cfg.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, HTTP: workload.NewHTTPClient(128)}
	var peers []string
	for i := range cfg.Nodes {
		id := fmt.Sprintf("n%d", i+1)
		root := cfg.Dir
		if len(cfg.DataRoots) > 0 {
			root = cfg.DataRoots[i]
		}
		n := &Node{ID: id, PeerAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			ClientAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			DataDir:    filepath.Join(root, id), LogPath: filepath.Join(cfg.Dir, id+".log")}
		n.Client = workload.NewRaftnodeClient(n.ClientAddr, c.HTTP)
		c.Nodes = append(c.Nodes, n)
		peers = append(peers, id+"="+n.PeerAddr)
	}
	c.peers = strings.Join(peers, ",")
	for i := range c.Nodes {
		if err := c.StartNode(i); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// AddNode starts a new node with a fresh data directory, e.g. with
// "--join" to be added to the running cluster through the membership
// API. Its --peers names every node so far and itself. It returns the
// node's index. Not safe to call while other goroutines use c.Nodes.
func (c *Cluster) AddNode(id string, args ...string) (int, error) {
	ports, err := freePorts(2)
	if err != nil {
		return -1, err
	}
	n := &Node{ID: id, PeerAddr: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		ClientAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		DataDir:    filepath.Join(c.cfg.Dir, id), LogPath: filepath.Join(c.cfg.Dir, id+".log"), args: args}
	n.Client = workload.NewRaftnodeClient(n.ClientAddr, c.HTTP)
	var peers []string
	for _, o := range c.Nodes {
		if o.ID == id {
			return -1, fmt.Errorf("proccluster: node %s exists", id)
		}
		peers = append(peers, o.ID+"="+o.PeerAddr)
	}
	n.peers = strings.Join(append(peers, id+"="+n.PeerAddr), ",")
	c.Nodes = append(c.Nodes, n)
	i := len(c.Nodes) - 1
	return i, c.StartNode(i)
}

// freePorts asks the kernel for unused ports. Another process could take
// one before the node binds it; on loopback in a test that is rare.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("proccluster: find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// StartNode (re)starts node i with its existing data directory. Its
// output is appended to LogPath.
func (c *Cluster) StartNode(i int) error {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		return fmt.Errorf("proccluster: %s is already running", n.ID)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("proccluster: %w", err)
	}
	peers := c.peers
	if n.peers != "" {
		peers = n.peers
	}
	args := append([]string{"--id", n.ID, "--peers", peers, "--client-addr", n.ClientAddr,
		"--data-dir", n.DataDir}, c.cfg.Args...)
	args = append(args, n.args...)
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("proccluster: start %s: %w", n.ID, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	n.proc = p
	go func() {
		_ = cmd.Wait() // the exit status is read from cmd.ProcessState
		logf.Close()
		close(p.done)
	}()
	return nil
}

// PID returns the process ID of node i's current run, or 0 when it is not
// running.
func (c *Cluster) PID(i int) int {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.exited() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Kill sends SIGKILL to node i and waits until it is gone.
func (c *Cluster) Kill(i int) error {
	_, err := c.signal(i, syscall.SIGKILL, 5*time.Second)
	return err
}

// Terminate sends SIGTERM (a clean shutdown) to node i, waits up to
// timeout for it to exit and returns how it exited. Past the timeout it
// is killed and Terminate reports an error.
func (c *Cluster) Terminate(i int, timeout time.Duration) (*os.ProcessState, error) {
	return c.signal(i, syscall.SIGTERM, timeout)
}

// signal sends sig to node i and waits for it to exit. A node that was
// not running is not an error; its last exit state is returned, if any.
func (c *Cluster) signal(i int, sig syscall.Signal, timeout time.Duration) (*os.ProcessState, error) {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.proc
	if p == nil {
		return nil, nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, fmt.Errorf("proccluster: signal %s: %w", n.ID, err)
	}
	select {
	case <-p.done:
		return p.cmd.ProcessState, nil
	case <-time.After(timeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return p.cmd.ProcessState, fmt.Errorf("proccluster: %s did not exit within %v of %v; killed", n.ID, timeout, sig)
}

// KillAll sends SIGKILL to every running node before waiting for any, so
// they die within a moment of each other: a power loss.
func (c *Cluster) KillAll() error {
	var procs []*process
	for _, n := range c.Nodes {
		n.mu.Lock()
		if p := n.proc; p != nil && !p.exited() {
			if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				n.mu.Unlock()
				return fmt.Errorf("proccluster: kill %s: %w", n.ID, err)
			}
			procs = append(procs, p)
		}
		n.mu.Unlock()
	}
	for _, p := range procs {
		<-p.done
	}
	return nil
}

// Running reports whether node i's process is up.
func (c *Cluster) Running(i int) bool {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// Stop kills every node.
func (c *Cluster) Stop() {
	for i := range c.Nodes {
		_ = c.Kill(i)
	}
	c.HTTP.CloseIdleConnections()
}

// Log returns what node i has written to its log so far.
func (c *Cluster) Log(i int) string {
	b, err := os.ReadFile(c.Nodes[i].LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", c.Nodes[i].LogPath, err)
	}
	return string(b)
}

// Leader waits until a majority of running nodes agree on a leader and
// returns its index.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	for {
		votes := map[string]int{}
		running := 0
		for i, n := range c.Nodes {
			if !c.Running(i) {
				continue
			}
			running++
			sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			st, err := n.Client.Status(sctx)
			cancel()
			if err == nil && st.Leader != "" {
				votes[st.Leader]++
			}
		}
		for i, n := range c.Nodes {
			if votes[n.ID] > len(c.Nodes)/2 && c.Running(i) {
				return i, nil
			}
		}
		if running <= len(c.Nodes)/2 {
			return -1, fmt.Errorf("proccluster: no leader possible: only %d of %d nodes are running", running, len(c.Nodes))
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("proccluster: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
