// Package shrink makes a failing simulated run small: the fewest faults,
// clients, operations and seconds that still fail the same way. It turns
// the run's nemesis, whatever drew it (the clock-driven schedule, the
// simulator's strikes at fragile instants, the Figure 8 choreography),
// into an explicit schedule in test.json, then searches:
//
//  1. the faults, by delta debugging (Zeller's ddmin) over fault units (a
//     fault with the action that undoes it);
//  2. the time limit, cut to just after the last fault, then halved;
//  3. the clients: the fewest that still fail (the rate scaled with
//     them, so each keeps its pace), then the rate halved;
//
// and again from 1 while a round makes the run smaller.
//
// Every candidate is a full simulated run, checked as `raftcheck test`
// checks it; a candidate counts only if it fails the same way: not
// linearizable, a Raft invariant broken, or not live. The search is
// bounded by a budget; when it runs out, or the context ends, the best
// run found so far is the answer.
package shrink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
)

// Kind is how a run fails.
type Kind string

const (
	NotLinearizable Kind = "not linearizable"
	Invariant       Kind = "invariant broken"
	NotLive         Kind = "not live"
	Passes          Kind = "passes"
)

// KindOf classifies a stored result.
func KindOf(res store.RunResult) Kind {
	switch {
	case res.Invariant != "":
		return Invariant
	case res.Verdict == checker.Invalid:
		return NotLinearizable
	case res.NotLive != "":
		return NotLive
	}
	return Passes
}

// Size is what a run amounts to.
type Size struct {
	Faults     int           // fault actions (partition, kill, pause)
	Operations int           // client operations invoked
	Nodes      int           // cluster size
	Simulated  time.Duration // virtual time of the whole run
	TimeLimit  time.Duration
	Clients    int
}

func (s Size) String() string {
	return fmt.Sprintf("%d faults, %d operations, %d nodes, %d clients, %v limit, %v simulated",
		s.Faults, s.Operations, s.Nodes, s.Clients, s.TimeLimit, s.Simulated.Round(time.Millisecond))
}

// Options bound and show the search.
type Options struct {
	Budget   time.Duration // default 3 minutes
	Progress io.Writer
}

// Result is the search's answer.
type Result struct {
	Kind        Kind
	Config      store.TestConfig // the smallest failing run: replay it from this alone
	Before      Size
	After       Size
	Runs        int  // candidates tried
	OutOfBudget bool // the budget ran out (or ctx ended) before the search did
}

// Shrink searches for a smaller run that fails the way tc (a resolved
// simulated configuration) does.
func Shrink(ctx context.Context, tc store.TestConfig, opts Options) (Result, error) {
	if tc.Backend != "sim" {
		return Result{}, fmt.Errorf("shrink works on simulated runs; this one ran on %s (replay it instead)", tc.Backend)
	}
	if opts.Budget <= 0 {
		opts.Budget = 3 * time.Minute
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	s := &search{ctx: ctx, deadline: time.Now().Add(opts.Budget), out: opts.Progress}
	first, err := s.try(tc)
	if err != nil {
		return Result{}, err
	}
	if first.kind == Passes {
		return Result{}, errors.New("the run does not fail: nothing to shrink")
	}
	s.kind = first.kind
	res := Result{Kind: s.kind, Before: first.size, Config: tc, After: first.size}
	fmt.Fprintf(s.out, "shrinking a run that is %s: %v\n", s.kind, first.size)

	// Make the schedule explicit: the same actions at the same times,
	// with nothing drawn or reactive besides.
	explicit, err := explicitSchedule(tc, first.events)
	if err != nil {
		return res, err
	}
	best, bestSize := tc, first.size
	if t, ok := s.fails(explicit); ok {
		best, bestSize = explicit, t.size
	} else {
		fmt.Fprintf(s.out, "the failure needs the simulator's own timing: with the recorded schedule replayed, the run passes; shrinking the clients and time only\n")
	}
	accept := func(c store.TestConfig, t trial, what string) {
		best, bestSize = c, t.size
		fmt.Fprintf(s.out, "  %s: %v\n", what, t.size)
	}

	// Each pass can open the way for another (a shorter run may need
	// fewer faults): repeat until a round changes nothing.
	for round := 1; !s.over(); round++ {
		before := bestSize
		if len(best.Schedule) > 0 {
			// Some bugs need no fault at all.
			if c := withUnits(best, nil); !s.over() {
				if t, ok := s.fails(c); ok {
					accept(c, t, "no faults at all")
				}
			}
		}
		if len(best.Schedule) > 0 {
			units := faultUnits(best.Schedule)
			kept := s.ddmin(units, func(keep [][]int) (trial, bool) {
				return s.fails(withUnits(best, keep))
			})
			if c := withUnits(best, kept); len(c.Schedule) < len(best.Schedule) {
				if t, ok := s.fails(c); ok {
					accept(c, t, fmt.Sprintf("faults down to %d units", len(kept)))
				}
			}
		}
		// Units overlap (a partition that replaces another is in two), so
		// finish with single faults: drop each that the failure does not need.
		for i := len(best.Schedule) - 1; i >= 0 && !s.over(); i-- {
			if !nemesis.IsFault(best.Schedule[i].Action.F) {
				continue
			}
			c := best
			c.Schedule = slices.Delete(slices.Clone(best.Schedule), i, i+1)
			if t, ok := s.fails(c); ok {
				accept(c, t, fmt.Sprintf("without the %s at %v", best.Schedule[i].Action.F, best.Schedule[i].At))
			}
		}
		// The time limit: just past the last action, then halves.
		limits := []time.Duration{}
		if n := len(best.Schedule); n > 0 {
			limits = append(limits, time.Duration(best.Schedule[n-1].At)+time.Duration(best.NemesisInterval))
		}
		for d := time.Duration(best.TimeLimit) / 2; d >= time.Second; d /= 2 {
			limits = append(limits, d)
		}
		for _, d := range limits {
			if s.over() || d >= time.Duration(best.TimeLimit) || !scheduleFits(best, d) {
				continue
			}
			c := best
			c.TimeLimit = store.Duration(d)
			if t, ok := s.fails(c); ok {
				accept(c, t, fmt.Sprintf("time limit %v", d))
			}
		}
		// The clients, each keeping its pace: the fewest that still fail.
		for n := 1; n < best.Concurrency && !s.over(); n *= 2 {
			c := best
			c.Concurrency = n
			c.Rate = best.Rate * float64(n) / float64(best.Concurrency)
			if t, ok := s.fails(c); ok {
				accept(c, t, fmt.Sprintf("%d clients", n))
				break
			}
		}
		// A slower workload: fewer operations to read through.
		for !s.over() && best.Rate/2 >= 5 {
			c := best
			c.Rate = best.Rate / 2
			t, ok := s.fails(c)
			if !ok {
				break
			}
			accept(c, t, fmt.Sprintf("rate %g/s", c.Rate))
		}
		if bestSize == before {
			break
		}
	}
	res.Config, res.After, res.Runs, res.OutOfBudget = best, bestSize, s.runs, s.over()
	return res, nil
}

// search runs candidates within a budget.
type search struct {
	ctx      context.Context
	deadline time.Time
	out      io.Writer
	kind     Kind
	runs     int
}

type trial struct {
	kind   Kind
	size   Size
	events []checker.Event
}

func (s *search) over() bool { return s.ctx.Err() != nil || time.Now().After(s.deadline) }

// fails runs c and reports whether it fails the way the original did.
func (s *search) fails(c store.TestConfig) (trial, bool) {
	if s.over() {
		return trial{}, false
	}
	t, err := s.try(c)
	if err != nil {
		fmt.Fprintf(s.out, "  candidate failed to run: %v\n", err)
		return t, false
	}
	return t, t.kind == s.kind
}

// try runs and classifies one candidate.
func (s *search) try(c store.TestConfig) (trial, error) {
	s.runs++
	c, err := sim.Resolve(c)
	if err != nil {
		return trial{}, err
	}
	fin, err := sim.Run(s.ctx, c)
	if err != nil {
		return trial{}, err
	}
	cctx, cancel := context.WithTimeout(s.ctx, time.Duration(c.CheckTimeout))
	defer cancel()
	cr, err := checker.Check(cctx, fin.Outcome.Events)
	if err != nil {
		return trial{}, err
	}
	res := store.RunResult{Verdict: cr.Verdict, Invariant: fin.Outcome.Invariant, NotLive: fin.Outcome.NotLive}
	return trial{kind: KindOf(res), size: sizeOf(c, fin), events: fin.Outcome.Events}, nil
}

func sizeOf(c store.TestConfig, fin harness.Finished) Size {
	sz := Size{Nodes: c.Nodes, Simulated: fin.Outcome.Duration, TimeLimit: time.Duration(c.TimeLimit), Clients: c.Concurrency}
	for _, e := range fin.Outcome.Events {
		switch {
		case e.Nemesis && e.Type == checker.Invoke && nemesis.IsFault(e.F):
			sz.Faults++
		case !e.Nemesis && e.Type == checker.Invoke:
			sz.Operations++
		}
	}
	return sz
}

// explicitSchedule is tc with its nemesis written out: every action of
// the history (but the final heal-all) at the time it was invoked, and
// the simulator's own nemeses off.
func explicitSchedule(tc store.TestConfig, events []checker.Event) (store.TestConfig, error) {
	var sched []store.TimedAction
	for _, e := range events {
		if !e.Nemesis || e.Type != checker.Invoke || e.F == nemesis.HealAllF {
			continue
		}
		var a nemesis.Action
		if err := json.Unmarshal(e.Value, &a); err != nil || a.F != e.F {
			return tc, fmt.Errorf("history event %d: a nemesis action that cannot be replayed (%s)", e.Index, e.Value)
		}
		sched = append(sched, store.TimedAction{At: store.Duration(e.Time), Action: a})
	}
	var knobs map[string]any
	if err := json.Unmarshal(tc.BackendConfig, &knobs); err != nil {
		return tc, fmt.Errorf("backend_config: %w", err)
	}
	knobs["reactive"], knobs["figure8"] = 0, false
	b, err := json.Marshal(knobs)
	if err != nil {
		return tc, err
	}
	tc.BackendConfig, tc.Schedule = b, sched
	return tc, nil
}

// faultUnits groups a schedule's actions: each fault with the action
// that undoes it (as the checker pairs them), each other action alone.
func faultUnits(sched []store.TimedAction) [][]int {
	var units [][]int
	open := map[string][]int{} // "kill n3" -> unit index
	key := func(a nemesis.Action) string {
		switch a.F {
		case "partition", "heal":
			return "partition"
		case "kill", "start", "corrupt":
			return fmt.Sprint("kill", a.Nodes)
		case "pause", "resume":
			return fmt.Sprint("pause", a.Nodes)
		case "remove", "add":
			return fmt.Sprint("remove", a.Nodes)
		}
		return a.F
	}
	for i, ta := range sched {
		k := key(ta.Action)
		switch {
		case nemesis.IsFault(ta.Action.F) && ta.Action.F == "partition" && len(open[k]) > 0:
			// A partition replaces the one in force: it ends that unit
			// and starts its own.
			u := open[k][0]
			units[u] = append(units[u], i)
			open[k] = []int{len(units)}
			units = append(units, []int{i})
		case nemesis.IsFault(ta.Action.F):
			open[k] = append(open[k], len(units))
			units = append(units, []int{i})
		case len(open[k]) > 0:
			u := open[k][0]
			units[u] = append(units[u], i)
			open[k] = open[k][1:]
			if ta.Action.F == "heal" {
				delete(open, k)
			}
		default:
			units = append(units, []int{i})
		}
	}
	return units
}

// withUnits is c with only the schedule actions of the kept units.
func withUnits(c store.TestConfig, keep [][]int) store.TestConfig {
	in := map[int]bool{}
	for _, u := range keep {
		for _, i := range u {
			in[i] = true
		}
	}
	var sched []store.TimedAction
	for i, ta := range c.Schedule {
		if in[i] {
			sched = append(sched, ta)
		}
	}
	c.Schedule = sched
	if len(sched) == 0 {
		// No schedule would mean the drawn one: no faults means none.
		c.Nemesis = nil
	}
	return c
}

func scheduleFits(c store.TestConfig, limit time.Duration) bool {
	n := len(c.Schedule)
	return n == 0 || time.Duration(c.Schedule[n-1].At) <= limit
}

// ddmin is delta debugging over units: it returns a subset of units
// that still fails, 1-minimal when the budget allows (removing any one
// unit makes it pass).
func (s *search) ddmin(units [][]int, fails func([][]int) (trial, bool)) [][]int {
	n := 2
	for len(units) >= 2 && !s.over() {
		chunk := (len(units) + n - 1) / n
		reduced := false
		for start := 0; start < len(units) && !s.over(); start += chunk {
			end := min(start+chunk, len(units))
			subset := units[start:end]
			complement := append(append([][]int{}, units[:start]...), units[end:]...)
			if _, ok := fails(subset); ok {
				units, n, reduced = subset, 2, true
				break
			}
			if _, ok := fails(complement); ok && n > 2 {
				units, n, reduced = complement, max(n-1, 2), true
				break
			}
		}
		if !reduced {
			if n >= len(units) {
				break
			}
			n = min(n*2, len(units))
		}
	}
	if len(units) == 1 && !s.over() {
		if _, ok := fails(nil); ok {
			return nil
		}
	}
	return units
}
