package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/raftcheck/raftcheck/harness/lazyfs"
	"github.com/raftcheck/raftcheck/nemesis"
)

var _ nemesis.PowerFaults = (*Cluster)(nil)

// backingDir is where a node's volume is mounted when its data directory
// is on lazyfs (Config.LazyFS); scripts/node/raftcheck-entrypoint mounts
// lazyfs from it onto the target's DataDir.
const backingDir = "/var/lib/raftcheck/backing"

// diskDir is where the node's volume, the durable bytes, is mounted.
func (c *Cluster) diskDir() string {
	if c.cfg.LazyFS != LazyFSOff {
		return backingDir
	}
	return c.cfg.Target.DataDir
}

// loseResult is what LoseUnfsynced did to one node.
type loseResult struct {
	stats lazyfs.Stats
	err   error
}

// LoseUnfsynced is a power failure of the nodes: each node's lazyfs
// discards what the node has not fsynced and fences its disk (every later
// operation fails with EIO, so the node acknowledges nothing more), then
// every node is killed (SIGKILL) as Kill does. It returns the bytes
// discarded per node. The cluster must have been started with
// Config.LazyFS. A stopped node is left alone (its power is already off;
// 0 bytes); a paused node is refused, since nothing can enter it to
// reach its lazyfs: resume it first.
func (c *Cluster) LoseUnfsynced(ctx context.Context, names ...string) (map[string]int64, error) {
	if c.cfg.LazyFS == LazyFSOff {
		return nil, errors.New("lose-unfsynced: the cluster's data directories are not on lazyfs (start it with Config.LazyFS)")
	}
	var nodes []*node
	for _, name := range names {
		n, err := c.node(name)
		if err != nil {
			return nil, fmt.Errorf("lose-unfsynced: %w", err)
		}
		nodes = append(nodes, n)
	}
	c.mu.Lock()
	results := make([]loseResult, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { results[i] = c.lose(ctx, n) })
	}
	wg.Wait()
	c.mu.Unlock()
	bytes := map[string]int64{}
	var errs []error
	for i, n := range nodes {
		c.mu.Lock()
		c.lost[n.name] = results[i]
		c.mu.Unlock()
		if results[i].err != nil {
			errs = append(errs, results[i].err)
			continue
		}
		bytes[n.name] = results[i].stats.Bytes
	}
	// Kill after every disk is fenced: the power fails for all at once.
	for _, n := range nodes {
		if err := c.Kill(ctx, n.name); err != nil {
			errs = append(errs, fmt.Errorf("lose-unfsynced: %w", err))
		}
	}
	return bytes, errors.Join(errs...)
}

// lose tells the node's lazyfs to discard its volatile layer.
func (c *Cluster) lose(ctx context.Context, n *node) loseResult {
	st, err := c.inspect(ctx, n)
	switch {
	case err != nil:
		return loseResult{err: fmt.Errorf("lose-unfsynced %s: %w", n.name, err)}
	case st.Paused:
		return loseResult{err: fmt.Errorf("lose-unfsynced %s: the node is paused; resume it first", n.name)}
	case !st.Running:
		return loseResult{stats: lazyfs.Stats{Lost: true}}
	}
	code, out, err := c.exec(ctx, n, "lazyfs", "lose")
	if err != nil {
		return loseResult{err: fmt.Errorf("lose-unfsynced %s: %w", n.name, err)}
	}
	if code != 0 {
		return loseResult{err: fmt.Errorf("lose-unfsynced %s: lazyfs lose exited %d: %s", n.name, code, out)}
	}
	var s lazyfs.Stats
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		return loseResult{err: fmt.Errorf("lose-unfsynced %s: lazyfs lose said %q: %w", n.name, out, err)}
	}
	return loseResult{stats: s}
}
