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
}

// Node is one member.
type Node struct {
	ID         string
	PeerAddr   string
	ClientAddr string
	DataDir    string
	LogPath    string
	Client     *workload.RaftnodeClient

	mu  sync.Mutex
	cmd *exec.Cmd
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
	ports, err := freePorts(2 * cfg.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, HTTP: workload.NewHTTPClient(128)}
	var peers []string
	for i := range cfg.Nodes {
		id := fmt.Sprintf("n%d", i+1)
		n := &Node{ID: id, PeerAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			ClientAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
			DataDir:    filepath.Join(cfg.Dir, id), LogPath: filepath.Join(cfg.Dir, id+".log")}
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

// StartNode (re)starts node i with its existing data directory.
func (c *Cluster) StartNode(i int) error {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("proccluster: %s is already running", n.ID)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	args := append([]string{"--id", n.ID, "--peers", c.peers, "--client-addr", n.ClientAddr,
		"--data-dir", n.DataDir}, c.cfg.Args...)
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("proccluster: start %s: %w", n.ID, err)
	}
	n.cmd = cmd
	go func() { cmd.Wait(); logf.Close() }()
	return nil
}

// Kill sends SIGKILL to node i and waits until it is gone.
func (c *Cluster) Kill(i int) error { return c.signal(i, syscall.SIGKILL) }

// Terminate sends SIGTERM (a clean shutdown) to node i and waits.
func (c *Cluster) Terminate(i int) error { return c.signal(i, syscall.SIGTERM) }

func (c *Cluster) signal(i int, sig syscall.Signal) error {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	if err := n.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	for n.cmd.ProcessState == nil {
		time.Sleep(5 * time.Millisecond)
	}
	n.cmd = nil
	return nil
}

// Running reports whether node i's process is up.
func (c *Cluster) Running(i int) bool {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Stop kills every node.
func (c *Cluster) Stop() {
	for i := range c.Nodes {
		c.Kill(i)
	}
}

// Leader waits until a majority of running nodes agree on a leader and
// returns its index.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	for {
		votes := map[string]int{}
		for i, n := range c.Nodes {
			if !c.Running(i) {
				continue
			}
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
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("proccluster: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
