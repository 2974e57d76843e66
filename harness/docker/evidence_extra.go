package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/raftcheck/raftcheck/harness/netdelay"
	"github.com/raftcheck/raftcheck/nemesis"
)

// Evidence for the faults beyond partition, kill and pause:
//
//   - degrade: the loss counters of the degraded links, from the moment
//     Degrade returned to a second later (connect probes on every pair
//     make traffic meanwhile): it bit if packets were dropped on them.
//   - restore-links: every live node's loss chain is empty.
//   - lose-unfsynced: each node's lazyfs answered lose (bytes, files and
//     names discarded) and the container is stopped.
//   - corrupt: the damage Corrupt did (file, offset, bytes).
//   - start of a node whose log was corrupted: after torn-tail, the node
//     runs and its log shows the torn record cut off; after flip-byte, it
//     stopped and its log names the file and offset (the refusal).

func (c *Cluster) degradeEvidence(ctx context.Context, a nemesis.Action) (bool, string) {
	if a.Link == nil {
		return false, "degrade names no link fault"
	}
	c.mu.Lock()
	before := c.counters
	c.mu.Unlock()
	// Traffic on every pair while the counters run: one round of connect
	// probes (SYN and SYN-ACK cross each link), besides Raft's own.
	var pairs []pair
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from != to {
				pairs = append(pairs, pair{from, to})
			}
		}
	}
	began := time.Now()
	c.probePairs(ctx, pairs, 1)
	if d := time.Second - time.Since(began); d > 0 {
		time.Sleep(d)
	}
	after := c.readCounters(ctx)
	var lines []string
	if a.Link.Delay > 0 {
		bit, detail := c.delayEvidence(ctx, a.Link)
		if a.Link.Loss == 0 {
			return bit, detail
		}
		if !bit {
			return false, detail
		}
		lines = append(lines, detail)
	}
	var dropped uint64
	for _, to := range sortedKeys(a.Link.Links) {
		for _, from := range a.Link.Links[to] {
			f := c.byName[from]
			if f == nil {
				lines = append(lines, fmt.Sprintf("%s<-%s: no node %s", to, from, from))
				continue
			}
			ip := f.ip.String()
			b, aft := before[to][ip], after[to][ip]
			seen, drop := aft.seen-min(b.seen, aft.seen), aft.dropped-min(b.dropped, aft.dropped)
			dropped += drop
			line := fmt.Sprintf("%s<-%s dropped %d of %d (counters before %d/%d, after %d/%d)",
				to, from, drop, seen, b.dropped, b.seen, aft.dropped, aft.seen)
			if _, ok := after[to]; !ok {
				line = fmt.Sprintf("%s<-%s: %s not readable (down or paused)", to, from, to)
			}
			lines = append(lines, line)
		}
	}
	summary := fmt.Sprintf("loss %.0f%%: ", 100*a.Link.Loss) + strings.Join(lines, "; ")
	return dropped > 0, summary
}

// delayEvidence reads what each delayed node's netdelay held, per
// source, since the delays changed: it bit if some delayed link carried
// data and every one that did held it for (nearly) the delay.
func (c *Cluster) delayEvidence(ctx context.Context, lf *nemesis.LinkFault) (bool, string) {
	var lines []string
	carried, short := 0, 0
	for _, to := range sortedKeys(lf.Links) {
		n := c.byName[to]
		if n == nil {
			continue
		}
		code, out, err := c.exec(ctx, n, "netdelay", "stats")
		var stats []netdelay.LinkStats
		if err == nil && code == 0 {
			err = json.Unmarshal([]byte(out), &stats)
		} else if err == nil {
			err = fmt.Errorf("netdelay stats exited %d: %s", code, out)
		}
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s: %v", to, err))
			continue
		}
		for _, from := range lf.Links[to] {
			f := c.byName[from]
			if f == nil {
				continue
			}
			i := slices.IndexFunc(stats, func(s netdelay.LinkStats) bool { return s.Source == f.ip.String() })
			if i < 0 || stats[i].Chunks == 0 {
				lines = append(lines, fmt.Sprintf("%s<-%s carried nothing", to, from))
				continue
			}
			s := stats[i]
			carried++
			if s.MaxHeld < lf.Delay*9/10 {
				short++
			}
			lines = append(lines, fmt.Sprintf("%s<-%s held %d chunks (%d bytes) up to %v, delay %v",
				to, from, s.Chunks, s.Bytes, s.MaxHeld.Round(time.Millisecond), s.Delay))
		}
	}
	return carried > 0 && short == 0, fmt.Sprintf("delay %v: ", lf.Delay) + strings.Join(lines, "; ")
}

func (c *Cluster) restoreEvidence(ctx context.Context) (bool, string) {
	counters := c.readCounters(ctx)
	var bad, clean []string
	for _, n := range c.Nodes() {
		lc, ok := counters[n]
		switch {
		case !ok:
		case len(lc) > 0:
			bad = append(bad, fmt.Sprintf("%s still drops from %d sources", n, len(lc)))
		default:
			clean = append(clean, n)
		}
	}
	delayed := ""
	if c.cfg.Latency {
		for _, n := range c.nodes {
			code, out, err := c.exec(ctx, n, "cat", "/etc/raftcheck/delay")
			if err == nil && code == 0 && strings.TrimSpace(out) != "" {
				bad = append(bad, fmt.Sprintf("%s still delays: %s", n.name, out))
			}
		}
		delayed = "; no delays"
	}
	if len(bad) > 0 {
		return false, strings.Join(bad, "; ")
	}
	return len(clean) > 0, "no loss rules on " + strings.Join(clean, ", ") + delayed
}

func (c *Cluster) loseEvidence(ctx context.Context, a nemesis.Action) (bool, string) {
	bit := len(a.Nodes) > 0
	var details []string
	for _, name := range a.Nodes {
		n, err := c.node(name)
		if err != nil {
			return false, err.Error()
		}
		c.mu.Lock()
		res, ok := c.lost[name]
		c.mu.Unlock()
		st, err := c.inspect(ctx, n)
		if err != nil {
			return false, err.Error()
		}
		switch {
		case !ok:
			bit = false
			details = append(details, name+": never lost power")
		case res.err != nil:
			bit = false
			details = append(details, res.err.Error())
		default:
			stopped := !st.Running && st.Pid == 0
			bit = bit && res.stats.Lost && stopped
			details = append(details, fmt.Sprintf("%s lost %v; %s, exit code %d", name, res.stats, st.Status, st.ExitCode))
		}
	}
	return bit, strings.Join(details, "; ")
}

func (c *Cluster) corruptEvidence(a nemesis.Action) (bool, string) {
	bit := len(a.Nodes) > 0
	var details []string
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range a.Nodes {
		cor, ok := c.corrupted[name]
		if !ok || cor.Kind != a.Name {
			bit = false
			details = append(details, name+": not corrupted")
			continue
		}
		details = append(details, fmt.Sprintf("%s %s: %s", name, cor.Kind, cor.Detail))
	}
	return bit, strings.Join(details, "; ")
}

// corruptedAmong reports whether a node of names has a corruption whose
// reaction is still to be seen.
func (c *Cluster) corruptedAmong(names []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(names, func(n string) bool { _, ok := c.corrupted[n]; return ok })
}

// reactionEvidence judges the start of nodes whose logs were corrupted.
func (c *Cluster) reactionEvidence(ctx context.Context, a nemesis.Action) (bool, string) {
	bit := true
	var details []string
	for _, name := range a.Nodes {
		c.mu.Lock()
		cor, ok := c.corrupted[name]
		c.mu.Unlock()
		if !ok {
			b, d := c.stateEvidence(ctx, nemesis.Action{F: "start", Nodes: []string{name}})
			bit, details = bit && b, append(details, d)
			continue
		}
		n := c.byName[name]
		st, err := c.inspect(ctx, n)
		if err != nil {
			return false, err.Error()
		}
		logText := c.fullLog(ctx, n)
		switch cor.Kind {
		case nemesis.TornTail:
			line := lastLineWith(logText, "torn write", cor.File)
			b, d := c.stateEvidence(ctx, nemesis.Action{F: "start", Nodes: []string{name}})
			ok := b && line != ""
			bit = bit && ok
			if line == "" {
				line = "no line about cutting off the torn write"
			}
			details = append(details, fmt.Sprintf("%s recovered from a torn tail: %s; log: %s", name, d, line))
			if ok {
				c.mu.Lock()
				delete(c.corrupted, name) // judged: a later start is an ordinary one
				c.mu.Unlock()
			}
		case nemesis.FlipByte:
			line := lastLineWith(logText, cor.File, fmt.Sprintf("offset %d", cor.Offset))
			ok := !st.Running && line != ""
			bit = bit && ok
			if line == "" {
				line = fmt.Sprintf("no line naming %s at offset %d", cor.File, cor.Offset)
			}
			details = append(details, fmt.Sprintf("%s refused to start (%s, exit code %d): %s", name, st.Status, st.ExitCode, line))
		}
	}
	return bit, strings.Join(details, "; ")
}

// fullLog returns the node's container log (every incarnation), at most
// its last 8 MiB.
func (c *Cluster) fullLog(ctx context.Context, n *node) string {
	rc, err := c.api.ContainerLogs(ctx, n.ctr.GetContainerID(), client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, 8<<20))
	return buf.String()
}

// lastLineWith returns the last line of text containing every one of
// subs, cut to 400 bytes, or "".
func lastLineWith(text string, subs ...string) string {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if !slices.ContainsFunc(subs, func(s string) bool { return !strings.Contains(l, s) }) {
			return strings.TrimSpace(l[:min(len(l), 400)])
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
