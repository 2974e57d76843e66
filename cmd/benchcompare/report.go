package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// latency summarizes a sample of durations, in milliseconds.
type latency = benchstat.Latency

// loadRow is one system in one scenario, over all its rounds.
type loadRow struct {
	System string `json:"system"`
	scenario
	OK        int       `json:"ok"`
	Errors    int       `json:"errors"`
	Seconds   float64   `json:"seconds"`
	OpsPerSec float64   `json:"ops_per_sec"`
	RoundOps  []float64 `json:"round_ops_per_sec"` // each round's throughput, to see the spread
	All       latency   `json:"latency"`
	Reads     latency   `json:"read_latency"`
	Writes    latency   `json:"write_latency"`
	FirstErr  string    `json:"first_error,omitempty"`
	reads     []time.Duration
	writes    []time.Duration
}

// failoverRow is one system's failover trials.
type failoverRow struct {
	System   string           `json:"system"`
	Trials   []failoverResult `json:"trials"`
	MedianMs float64          `json:"median_ms"`
	P90Ms    float64          `json:"p90_ms"`
	MaxMs    float64          `json:"max_ms"`
}

// results is everything one run measured.
type results struct {
	Started   string         `json:"started"`
	Config    map[string]any `json:"config"`
	Machine   map[string]any `json:"machine"`
	Load      []*loadRow     `json:"load"`
	Failovers []*failoverRow `json:"failovers"`
}

func newResults(cfg config) *results {
	return &results{
		Started: time.Now().UTC().Format(time.RFC3339),
		Config: map[string]any{"nodes": 3, "duration_sec": cfg.duration.Seconds(), "rounds": cfg.rounds,
			"clients": cfg.clients, "read_frac": cfg.readFrac, "failover_trials": cfg.failovers,
			"election_timeout_ms": benchstat.Ms(cfg.electionTimeout), "heartbeat_ms": benchstat.Ms(cfg.electionTimeout / 10),
			"etcd_conns_per_member": cfg.etcdConns, "raftnode_conns_per_member": raftnodeConns(cfg), "raftnode_image": cfg.raftnodeImage, "etcd_image": cfg.etcdImage,
			"reads": "linearizable on both", "target": "the leader, closed loop, one key per client"},
		Machine: map[string]any{"cpus": runtime.NumCPU(), "loadavg_start": benchstat.Loadavg()},
	}
}

func (r *results) addLoad(system string, sc scenario, s sample) {
	var row *loadRow
	for _, l := range r.Load {
		if l.System == system && l.scenario == sc {
			row = l
		}
	}
	if row == nil {
		row = &loadRow{System: system, scenario: sc}
		r.Load = append(r.Load, row)
	}
	row.OK += s.ok
	row.Errors += s.errors
	row.Seconds += s.elapsed.Seconds()
	row.RoundOps = append(row.RoundOps, float64(s.ok)/s.elapsed.Seconds())
	row.reads = append(row.reads, s.reads...)
	row.writes = append(row.writes, s.writes...)
	if row.FirstErr == "" {
		row.FirstErr = s.firstErr
	}
}

func (r *results) addFailover(system string, f failoverResult) {
	for _, row := range r.Failovers {
		if row.System == system {
			row.Trials = append(row.Trials, f)
			return
		}
	}
	r.Failovers = append(r.Failovers, &failoverRow{System: system, Trials: []failoverResult{f}})
}

// finish computes the summaries.
func (r *results) finish() {
	r.Machine["loadavg_end"] = benchstat.Loadavg()
	for _, l := range r.Load {
		l.OpsPerSec = float64(l.OK) / l.Seconds
		l.All = benchstat.Summarize(append(slices.Clone(l.reads), l.writes...))
		l.Reads, l.Writes = benchstat.Summarize(l.reads), benchstat.Summarize(l.writes)
	}
	for _, f := range r.Failovers {
		var d []time.Duration
		for _, t := range f.Trials {
			d = append(d, time.Duration(t.Ms*float64(time.Millisecond)))
		}
		s := benchstat.Summarize(d)
		f.MedianMs, f.P90Ms, f.MaxMs = s.P50ms, benchstat.Ms(benchstat.Percentile(sortedCopy(d), 0.9)), s.MaxMs
	}
}

func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func (r *results) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "\nraftnode vs etcd: 3 nodes each in containers on one machine (%v CPUs, load %v -> %v)\n",
		r.Machine["cpus"], r.Machine["loadavg_start"], r.Machine["loadavg_end"])
	fmt.Fprintf(w, "election timeout %vms, heartbeat %vms; %v rounds x %vs per row, alternating; linearizable reads; clients on the leader\n",
		r.Config["election_timeout_ms"], r.Config["heartbeat_ms"], r.Config["rounds"], r.Config["duration_sec"])
	fmt.Fprintf(w, "client connections per member: etcd %v (gRPC), raftnode %v\n\n", r.Config["etcd_conns_per_member"], r.Config["raftnode_conns_per_member"])
	if len(r.Load) > 0 {
		if err := r.writeLoad(w); err != nil {
			return err
		}
	}
	if len(r.Failovers) > 0 {
		return r.writeFailovers(w)
	}
	return nil
}

func (r *results) writeLoad(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tclients\tsystem\tops/s\tp50\tp99\tp999\terrors\tper round ops/s\t")
	for _, l := range r.Load {
		var rounds []string
		for _, v := range l.RoundOps {
			rounds = append(rounds, fmt.Sprintf("%.0f", v))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t\n", l.Workload, l.Clients, l.System, l.OpsPerSec,
			fmtMs(l.All.P50ms), fmtMs(l.All.P99ms), fmtMs(l.All.P999ms), l.Errors, strings.Join(rounds, " "))
	}
	return tw.Flush()
}

func (r *results) writeFailovers(w io.Writer) error {
	fmt.Fprintf(w, "\nfailover: kill -9 of the leader issued -> first acknowledged write (probe every %v)\n", probeInterval)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "system\ttrials\tmedian\tp90\tmax\tall (ms)\tkill confirmed after (median)\t")
	for _, f := range r.Failovers {
		var all []string
		var kills []time.Duration
		for _, t := range f.Trials {
			all = append(all, fmt.Sprintf("%.0f", t.Ms))
			kills = append(kills, time.Duration(t.KillMs*float64(time.Millisecond)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", f.System, len(f.Trials), fmtMs(f.MedianMs), fmtMs(f.P90Ms),
			fmtMs(f.MaxMs), strings.Join(all, " "), fmtMs(benchstat.Summarize(kills).P50ms))
	}
	return tw.Flush()
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

// runDir is root/bench-compare/<start time>: results.json and the
// nodes' logs.
func (r *results) runDir(root string) string {
	t, _ := time.Parse(time.RFC3339, r.Started)
	return filepath.Join(root, "bench-compare", t.Format("20060102T150405Z"))
}

// save writes the figures to runDir/results.json.
func (r *results) save(root string) (string, error) {
	dir := r.runDir(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "results.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
