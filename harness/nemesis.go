package harness

import (
	"context"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
)

// nemesis is the clock-driven nemesis process, the one nemesis loop:
// half an interval of quiet, a fault from the schedule, NemesisInterval
// of it, its recovery, and again, as long as a whole fault fits before
// end.
func (r *run) nemesis(ctx context.Context, end time.Duration) {
	sched := nemesis.NewSchedule(r.cfg.Nemesis, r.nodes, Stream(r.cfg.Seed, "nemesis"))
	if sched.Empty() {
		return
	}
	interval := time.Duration(r.cfg.NemesisInterval)
	for {
		if r.rt.Sleep(ctx, interval/2) != nil || r.rt.Now()+interval > end {
			return
		}
		leader, _ := r.leader(ctx)
		fault, recovery := sched.Next(leader)
		r.act(fault)
		if r.rt.Sleep(ctx, interval) != nil {
			r.recover(recovery) // leave nothing broken behind an interrupt
			return
		}
		r.recover(recovery)
	}
}

// recover applies a fault's recovery actions in turn (none for a
// replace or a leadership transfer: they are over once applied).
func (r *run) recover(recovery []nemesis.Action) {
	for _, a := range recovery {
		r.act(a)
	}
}

// scripted runs an explicit schedule: each action at its time.
func (r *run) scripted(ctx context.Context, schedule []store.TimedAction) {
	for _, ta := range schedule {
		if wait := time.Duration(ta.At) - r.rt.Now(); wait > 0 {
			if r.rt.Sleep(ctx, wait) != nil {
				return
			}
		}
		r.act(ta.Action)
	}
}

// act applies one action and records it: an invoke/info pair in the
// history (the info carries the error, if any), and for a fault the
// evidence that it bit. Every action of every nemesis goes through here.
// It must not sleep: the simulator's own nemeses call it from inside an
// event.
func (r *run) act(a nemesis.Action) {
	// Actions go on even after an interrupt: a fault left in place would
	// outlive the run.
	ctx := context.Background()
	at := r.rec.Nemesis(checker.Invoke, a.F, a.Describe())
	err := nemesis.Apply(ctx, r.b, a)
	if err != nil {
		r.rec.Nemesis(checker.Info, a.F, checker.StringValue(err.Error()))
	} else {
		r.rec.Nemesis(checker.Info, a.F, a.Describe())
	}
	if !nemesis.HasEvidence(a.F) {
		return
	}
	ev := evidence{bit: false, detail: ""}
	switch {
	case err == nil:
		ev.bit, ev.detail = r.b.Evidence(ctx, a)
	case a.F == "start":
		// A start can fail as it must: a node refuses a log with a
		// flipped byte. Its evidence tells that refusal from any other
		// failure.
		ev.bit, ev.detail = r.b.Evidence(ctx, a)
		if !ev.bit {
			ev.detail = "failed to start: " + err.Error() + "; " + ev.detail
		}
	default:
		ev.detail = "failed to inject: " + err.Error()
	}
	r.mu.Lock()
	r.faults.evidence[at] = ev
	r.mu.Unlock()
}

// healAll undoes every fault: the run's last action.
func (r *run) healAll(ctx context.Context) error {
	a := nemesis.Action{F: nemesis.HealAllF}
	r.rec.Nemesis(checker.Invoke, a.F, nil)
	err := nemesis.HealAll(ctx, r.b)
	if err != nil {
		r.rec.Nemesis(checker.Info, a.F, checker.StringValue(err.Error()))
		return err
	}
	r.rec.Nemesis(checker.Info, a.F, nil)
	return nil
}

// faultLog keeps the evidence of each fault by the history index of its
// invocation; the spans come from the history itself, paired as the
// checker's view pairs them, so the report's table and its shaded spans
// are one record.
type faultLog struct {
	evidence map[int]evidence
}

type evidence struct {
	bit    bool
	detail string
}

func (l *faultLog) record(events []checker.Event) []store.Fault {
	var out []store.Fault
	for _, sp := range checker.FaultSpans(events) {
		f := store.Fault{Action: sp.Label, Start: sp.Start}
		if !sp.Open {
			f.End = sp.End
		}
		if ev, ok := l.evidence[sp.Index]; ok {
			bit := ev.bit
			f.Bit, f.Evidence = &bit, ev.detail
			// A fault judged when it is undone (the add that ends a
			// remove, the start after a corruption) bit only if the
			// undoing shows it did.
			if end, ok := l.evidence[sp.EndIndex]; ok && nemesis.JudgedAtEnd(sp.F) && sp.EndIndex != sp.Index && !sp.Open {
				bit = bit && end.bit
				f.Bit, f.Evidence = &bit, ev.detail+"; then "+end.detail
			}
		}
		out = append(out, f)
	}
	return out
}

// inForce describes the faults in force now, for the progress line.
func (r *run) inForce() string {
	var open []string
	for _, sp := range checker.FaultSpans(r.rec.Events()) {
		if sp.Open {
			open = append(open, sp.Label)
		}
	}
	if len(open) == 0 {
		return "none"
	}
	return strings.Join(open, "; ")
}
