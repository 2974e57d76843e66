package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

// latency summarizes a sample of durations, in milliseconds.
type latency = benchstat.Latency

// configReport is the part of the configuration the figures depend on.
type configReport struct {
	Nodes             int     `json:"nodes"`
	DurationSec       float64 `json:"duration_sec"`
	HeartbeatMs       float64 `json:"heartbeat_ms"`
	ElectionTimeoutMs float64 `json:"election_timeout_ms"`
	Raftnode          string  `json:"raftnode"`
	ClientConns       string  `json:"client_conns"`
	// DataDirs are the --dirs the nodes' data went below; empty: one
	// temporary directory.
	DataDirs []string `json:"data_dirs,omitempty"`
	Started  string   `json:"started"`
}

func (c config) report() configReport {
	return configReport{Nodes: benchNodes, DataDirs: c.dirs, DurationSec: c.duration.Seconds(), HeartbeatMs: benchstat.Ms(c.heartbeat),
		ElectionTimeoutMs: benchstat.Ms(c.electionTimeout), Raftnode: c.raftnode, ClientConns: c.connsReport(),
		Started: time.Now().UTC().Format(time.RFC3339)}
}

// connsReport says how the clients connect.
func (c config) connsReport() string {
	if c.conns == 0 {
		return "one per client (net/http)"
	}
	k := workload.PerKind(c.conns)
	return fmt.Sprintf("%d for reads and %d for writes, HTTP/1.1 pipelined", k, k)
}

// results is everything raftbench measured.
type results struct {
	Config           configReport     `json:"config"`
	Load             []loadResult     `json:"load"`
	Failovers        []failoverResult `json:"failovers"`
	FailoverMedianMs float64          `json:"failover_median_ms"`
	// Fsync is the 4 KiB write+fsync latency in node 1's directory, alone;
	// FsyncTogether the same in every node's directory at once.
	Fsync         latency `json:"fsync_4k"`
	FsyncTogether latency `json:"fsync_4k_together"`
	// PeakRSS is each node's peak resident memory after the load runs.
	PeakRSS []nodeRSS `json:"peak_rss"`
}

// nodeRSS is a node's peak resident set size (VmHWM), in MiB; 0 when it
// could not be read.
type nodeRSS struct {
	Node   string  `json:"node"`
	Leader bool    `json:"leader"`
	MiB    float64 `json:"mib"`
}

// peakRSS reads the peak resident set size of process pid from
// /proc/PID/status (Linux only; 0 elsewhere or when it is gone).
func peakRSS(node string, pid int, leader bool) nodeRSS {
	r := nodeRSS{Node: node, Leader: leader}
	if pid == 0 {
		return r
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return r
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g kB", &kb); err == nil {
				r.MiB = kb / 1024
			}
		}
	}
	return r
}

func (r *results) summarize() {
	var d []time.Duration
	for _, f := range r.Failovers {
		d = append(d, f.Duration)
	}
	if len(d) > 0 {
		r.FailoverMedianMs = benchstat.Summarize(d).P50ms
	}
}

func (r *results) writeTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "raftbench: %d raftnode processes on loopback; heartbeat %gms, election timeout %gms; %gs per run\n",
		c.Nodes, c.HeartbeatMs, c.ElectionTimeoutMs, c.DurationSec)
	fmt.Fprintf(w, "client connections to the leader: %s; load %s\n\n", c.ClientConns, benchstat.Loadavg())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tclients\tops/s\tp50\tp99\tmax\tok\terrors\t")
	for _, l := range r.Load {
		name := string(l.Op)
		if l.Op == opRead {
			name = "read (linearizable)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%d\t\n", name, l.Clients, l.OpsPerSec,
			fmtMs(l.Latency.P50ms), fmtMs(l.Latency.P99ms), fmtMs(l.Latency.MaxMs), l.OK, l.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Failovers) > 0 {
		var trials []string
		for _, f := range r.Failovers {
			trials = append(trials, fmt.Sprintf("%s (killed %s)", fmtMs(f.Ms), f.Killed))
		}
		fmt.Fprintf(w, "\nfailover, kill -9 leader -> first acknowledged write: %s; median %s (probe every %v)\n",
			strings.Join(trials, ", "), fmtMs(r.FailoverMedianMs), probeInterval)
	}
	if len(r.PeakRSS) > 0 {
		var rss []string
		for _, n := range r.PeakRSS {
			role := ""
			if n.Leader {
				role = " (leader)"
			}
			rss = append(rss, fmt.Sprintf("%s%s %.0f MiB", n.Node, role, n.MiB))
		}
		fmt.Fprintf(w, "peak RSS after the load runs: %s\n", strings.Join(rss, ", "))
	}
	where := "all in one directory"
	if len(r.Config.DataDirs) > 0 {
		where = "one per node's directory"
	}
	_, err := fmt.Fprintf(w, "fsync floor, 4 KiB write+fsync x%d: alone p50 %s, p99 %s, max %s; "+
		"%d at once (%s, as the nodes fsync) p50 %s, p99 %s\n",
		r.Fsync.N, fmtMs(r.Fsync.P50ms), fmtMs(r.Fsync.P99ms), fmtMs(r.Fsync.MaxMs),
		r.Config.Nodes, where, fmtMs(r.FsyncTogether.P50ms), fmtMs(r.FsyncTogether.P99ms))
	return err
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
