package proccluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

// NodeStatus is a node's full GET /v1/status answer.
type NodeStatus struct {
	ID            string `json:"id"`
	Role          string `json:"role"`
	Term          uint64 `json:"term"`
	Leader        string `json:"leader"`
	Commit        uint64 `json:"commit"`
	Applied       uint64 `json:"applied"`
	LastIndex     uint64 `json:"last_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
}

// Status fetches node i's status.
func (c *Cluster) Status(ctx context.Context, i int) (NodeStatus, error) {
	var st NodeStatus
	body, err := c.get(ctx, i, "/v1/status")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("proccluster: %s status: %w", c.Nodes[i].ID, err)
	}
	return st, nil
}

// Metric returns the value of an unlabelled metric from node i's
// /metrics, e.g. "raftnode_snapshot_restores_total".
func (c *Cluster) Metric(ctx context.Context, i int, name string) (float64, error) {
	body, err := c.get(ctx, i, "/metrics")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		metric, value, ok := strings.Cut(sc.Text(), " ")
		if ok && metric == name {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			if err != nil {
				return 0, fmt.Errorf("proccluster: %s metric %s: %w", c.Nodes[i].ID, name, err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("proccluster: %s has no metric %s", c.Nodes[i].ID, name)
}

func (c *Cluster) get(ctx context.Context, i int, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Nodes[i].ClientAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("proccluster: GET %s from %s: %w", path, c.Nodes[i].ID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("proccluster: GET %s from %s: %w", path, c.Nodes[i].ID, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("proccluster: GET %s from %s: HTTP %d", path, c.Nodes[i].ID, resp.StatusCode)
	}
	return body, nil
}

// WaitApplied waits until node i has applied index.
func (c *Cluster) WaitApplied(ctx context.Context, i int, index uint64) error {
	for {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		st, err := c.Status(sctx, i)
		cancel()
		if err == nil && st.Applied >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("proccluster: %s has not applied %d (at %d, last error %v): %w",
				c.Nodes[i].ID, index, st.Applied, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitCaughtUp waits for a leader agreed by a majority and then until
// every running node has applied the leader's commit index.
func (c *Cluster) WaitCaughtUp(ctx context.Context) (leader int, err error) {
	leader, err = c.Leader(ctx)
	if err != nil {
		return -1, err
	}
	st, err := c.Status(ctx, leader)
	if err != nil {
		return -1, err
	}
	for i := range c.Nodes {
		if c.Running(i) {
			if err := c.WaitApplied(ctx, i, st.Commit); err != nil {
				return -1, err
			}
		}
	}
	return leader, nil
}

// ProbeWrite writes key through each of nodes, starting a fresh attempt
// on every node each interval (an attempt gives up after attemptTimeout),
// until one write is acknowledged ok. It returns the node that
// acknowledged and the value written. Each attempt writes a new value, so
// attempts that were answered info may still take effect later: use a key
// nothing else reads.
func (c *Cluster) ProbeWrite(ctx context.Context, nodes []int, key string, interval, attemptTimeout time.Duration) (node int, value int64, err error) {
	if len(nodes) == 0 {
		return -1, 0, fmt.Errorf("proccluster: ProbeWrite needs at least one node")
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, below: attempts still running end now
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type win struct {
		node  int
		value int64
	}
	won := make(chan win, 1)
	var next atomic.Int64
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		for _, i := range nodes {
			v := next.Add(1)
			wg.Go(func() {
				actx, acancel := context.WithTimeout(ctx, attemptTimeout)
				defer acancel()
				if r := c.Nodes[i].Client.Write(actx, key, v, workload.Session{}); r.Outcome == workload.OK {
					select {
					case won <- win{i, v}:
					default:
					}
				}
			})
		}
		select {
		case w := <-won:
			return w.node, w.value, nil
		case <-ctx.Done():
			return -1, 0, fmt.Errorf("proccluster: no write to %q acknowledged: %w", key, ctx.Err())
		case <-ticker.C:
		}
	}
}
