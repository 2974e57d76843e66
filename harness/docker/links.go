package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
)

var _ nemesis.LinkFaults = (*Cluster)(nil)

// Degrade makes each node drop, at random with probability lf.Loss, the
// packets arriving from the nodes lf.Links names for it (iptables
// statistic match, in the chain RAFTCHECK-LOSS; scripts/node/raftcheck-
// loss), replacing any link fault in force. Partitions stay as they are:
// a dropped packet is dropped. A killed node gets the rules from its
// entrypoint when started; a paused one through a helper container.
//
// Loss on the links into a node is loss on TCP's data and its
// acknowledgements alike, so both directions of a connection suffer
// when either is named: asymmetry is in how much, not whether.
func (c *Cluster) Degrade(ctx context.Context, lf nemesis.LinkFault) error {
	if err := lf.Check(); err != nil {
		return fmt.Errorf("degrade: %w", err)
	}
	for to, froms := range lf.Links {
		if _, err := c.node(to); err != nil {
			return fmt.Errorf("degrade: %w", err)
		}
		for _, from := range froms {
			if _, err := c.node(from); err != nil {
				return fmt.Errorf("degrade: %w", err)
			}
		}
	}
	if lf.Delay > 0 && !c.cfg.Latency {
		return errors.New("degrade: latency needs the cluster started with Config.Latency (peer traffic through netdelay)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loss = &nemesis.LinkFault{Links: lf.Links, Loss: lf.Loss, Delay: lf.Delay}
	err := errors.Join(c.applyLossAll(ctx), c.applyDelayAll(ctx))
	// The baseline for Evidence: the counters as the fault begins.
	c.counters = c.readCounters(ctx)
	return err
}

// RestoreLinks removes every link fault.
func (c *Cluster) RestoreLinks(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loss = nil
	return errors.Join(c.applyLossAll(ctx), c.applyDelayAll(ctx))
}

// applyDelayAll writes every node's delay file, which its netdelay
// re-reads within 100 ms (or its entrypoint at the next start). A paused
// node's netdelay applies it when resumed.
func (c *Cluster) applyDelayAll(ctx context.Context) error {
	if !c.cfg.Latency {
		return nil
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() { errs[i] = c.writeFaultFiles(ctx, n) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err == nil {
		time.Sleep(300 * time.Millisecond) // netdelay polls every 100 ms
	}
	return err
}

// delays returns the latency n's netdelay must add per source IP.
func (c *Cluster) delays(n *node) map[netip.Addr]time.Duration {
	d := map[netip.Addr]time.Duration{}
	if c.loss == nil || c.loss.Delay <= 0 {
		return d
	}
	for _, from := range c.loss.Links[n.name] {
		if f := c.byName[from]; f != nil {
			d[f.ip] = c.loss.Delay
		}
	}
	return d
}

func (c *Cluster) applyLossAll(ctx context.Context) error {
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() {
			st, err := c.inspect(ctx, n)
			if err != nil {
				errs[i] = err
				return
			}
			p, ips := c.lossArgs(n)
			cmd := []string{lossCmd}
			if len(ips) > 0 {
				cmd = append(append(cmd, p), ips...)
			}
			errs[i] = c.netScript(ctx, n, st, "degrade", cmd)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lossArgs returns the probability (as raftcheck-loss takes it) and the
// source IPs n must drop at random under the link fault in force.
func (c *Cluster) lossArgs(n *node) (string, []string) {
	if c.loss == nil || c.loss.Loss == 0 {
		return "", nil
	}
	var ips []string
	for _, from := range c.loss.Links[n.name] {
		if f := c.byName[from]; f != nil {
			ips = append(ips, f.ip.String())
		}
	}
	slices.Sort(ips)
	return strconv.FormatFloat(c.loss.Loss, 'f', -1, 64), ips
}

// linkCounters are a node's RAFTCHECK-LOSS counters: per source IP, the
// packets that arrived and the packets dropped.
type linkCounters map[string]struct{ seen, dropped uint64 }

// readCounters reads the loss counters of every running, unpaused node
// (a node that cannot be read is left out).
func (c *Cluster) readCounters(ctx context.Context) map[string]linkCounters {
	out := map[string]linkCounters{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			if st, err := c.inspect(ctx, n); err != nil || !st.Running || st.Paused {
				return
			}
			code, text, err := c.exec(ctx, n, "iptables", "-w", "-L", "RAFTCHECK-LOSS", "-v", "-x", "-n")
			if err != nil || code != 0 {
				return
			}
			lc := parseLossCounters(text)
			mu.Lock()
			out[n.name] = lc
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// parseLossCounters reads `iptables -L RAFTCHECK-LOSS -v -x -n`: per
// source, the counting rule (target empty) and the DROP rule.
//
//	pkts bytes target prot opt in out source destination
//	  40  2400        0    --  *  *   172.28.3.11 0.0.0.0/0
//	  12   720 DROP   0    --  *  *   172.28.3.11 0.0.0.0/0  statistic mode random probability 0.30000000000
func parseLossCounters(text string) linkCounters {
	lc := linkCounters{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		pkts, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue // the chain's title and column headers
		}
		// With a target, the source is the 8th field; without, the 7th.
		drop := f[2] == "DROP"
		src := f[6]
		if drop {
			src = f[7]
		}
		v := lc[src]
		if drop {
			v.dropped += pkts
		} else {
			v.seen += pkts
		}
		lc[src] = v
	}
	return lc
}
