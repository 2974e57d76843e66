// Package benchstat summarizes latency samples and the machine's load for
// the benchmark programs (raftbench, benchcompare), so both report the
// same figures.
package benchstat

import (
	"os"
	"slices"
	"strings"
	"time"
)

// Latency summarizes a sample of durations, in milliseconds.
type Latency struct {
	N      int     `json:"n"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summarize computes the nearest-rank percentiles of d.
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return Latency{N: len(s), P50ms: Ms(Percentile(s, 0.50)), P99ms: Ms(Percentile(s, 0.99)),
		P999ms: Ms(Percentile(s, 0.999)), MaxMs: Ms(s[len(s)-1])}
}

// Percentile is the nearest-rank percentile of sorted durations.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Ms converts a duration to fractional milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Loadavg is the machine's load average over 1, 5 and 15 minutes from
// /proc/loadavg, or "unknown": other work on the machine skews figures,
// so benchmarks print it beside them.
func Loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
