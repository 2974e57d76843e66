package report

import (
	"github.com/raftcheck/raftcheck/harness/store"

	"slices"
	"time"

	"github.com/raftcheck/raftcheck/checker"
)

// op is a client operation: its invocation and its completion.
type op struct {
	f          string
	start, end int64        // end is 0 when it never completed
	outcome    checker.Type // OK, Fail or Info (info also when it never completed)
	completed  bool
}

// latency is the operation's latency, completed operations only.
func (o op) latency() int64 { return o.end - o.start }

// operations pairs each client invocation with its completion, by
// process, in invocation order. Invocations that never completed count
// as info, as the checker counts them.
func operations(events []checker.Event) []op {
	var ops []op
	pending := map[int]int{} // process -> index in ops
	for _, e := range events {
		if e.Nemesis {
			continue
		}
		if e.Type == checker.Invoke {
			pending[e.Process] = len(ops)
			ops = append(ops, op{f: e.F, start: e.Time, outcome: checker.Info})
			continue
		}
		i, ok := pending[e.Process]
		if !ok {
			continue // the reader rejects this; be lenient in a report
		}
		delete(pending, e.Process)
		ops[i].end, ops[i].outcome, ops[i].completed = e.Time, e.Type, true
	}
	return ops
}

// countRow is one row of the operation counts: an f, or the total.
type countRow struct {
	F              string
	OK, Fail, Info int
	Pending        int // of Info: never completed
	Total          int
	P50, P99, Max  string // latency of ok operations
	okLatencies    []int64
}

// countOps counts operations by f and outcome, with a total row last, and
// the latency quantiles of the ok ones.
func countOps(ops []op) []countRow {
	rows := map[string]*countRow{}
	total := &countRow{F: "all"}
	for _, o := range ops {
		r := rows[o.f]
		if r == nil {
			r = &countRow{F: o.f}
			rows[o.f] = r
		}
		for _, c := range []*countRow{r, total} {
			c.Total++
			switch {
			case o.outcome == checker.OK:
				c.OK++
				c.okLatencies = append(c.okLatencies, o.latency())
			case o.outcome == checker.Fail:
				c.Fail++
			default:
				c.Info++
				if !o.completed {
					c.Pending++
				}
			}
		}
	}
	var out []countRow
	for _, f := range sortedFs(rows) {
		out = append(out, rows[f].withQuantiles())
	}
	return append(out, total.withQuantiles())
}

func (c *countRow) withQuantiles() countRow {
	ds := c.okLatencies
	if len(ds) > 0 {
		slices.Sort(ds)
		q := func(p float64) string { return fmtDuration(ds[int(p*float64(len(ds)-1))]) }
		c.P50, c.P99, c.Max = q(0.5), q(0.99), fmtDuration(ds[len(ds)-1])
	}
	c.okLatencies = nil
	return *c
}

// sortedFs orders read, write, cas first, then any others by name.
func sortedFs[V any](m map[string]V) []string {
	known := []string{checker.Read, checker.Write, checker.CAS}
	var out, rest []string
	for _, f := range known {
		if _, ok := m[f]; ok {
			out = append(out, f)
		}
	}
	for f := range m {
		if !slices.Contains(known, f) {
			rest = append(rest, f)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// fmtDuration shows nanoseconds with three significant digits or so.
func fmtDuration(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond).String()
	}
	return d.String()
}

// fmtSeconds shows a time since the start of the run in seconds.
func fmtSeconds(ns int64) string {
	return time.Duration(ns).Round(time.Millisecond).String()
}

// roundDuration rounds a stored duration for display.
func roundDuration(d store.Duration) string {
	return fmtDuration(int64(d))
}
