package checker

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The words of an explanation. A classification is a heuristic over the
// proven set (and, for the words "never", "only" and "next", the key's
// whole history); when none fits, the explanation says only that no order
// works, which the set proves anyway.

// xop is an operation with what the words need of it.
type xop struct {
	porcupine.Operation
	in   Input
	out  Output
	meta opMeta
}

func newXop(op porcupine.Operation) xop {
	x := xop{Operation: op}
	x.in, _ = op.Input.(Input)
	x.out, _ = op.Output.(Output)
	x.meta, _ = op.Metadata.(opMeta)
	return x
}

// puts is the value the operation leaves in the register if it takes
// effect.
func (x xop) puts() (int64, bool) {
	switch x.in.F {
	case Write:
		return x.in.Value, true
	case CAS:
		return x.in.To, true
	}
	return 0, false
}

// acked says the operation took effect and changed the register.
func (x xop) acked() bool {
	_, puts := x.puts()
	return puts && x.out.Known
}

// observes is the value an acknowledged operation saw: a read's result
// (set false: never written) or a successful cas's compare.
func (x xop) observes() (v int64, set, ok bool) {
	switch {
	case !x.out.Known:
		return 0, false, false
	case x.in.F == Read:
		return x.out.Value, x.out.Set, true
	case x.in.F == CAS:
		return x.in.Value, true, true
	}
	return 0, false, false
}

// before says x completed before y was invoked.
func (x xop) before(y xop) bool { return x.Return < y.Call }

// name is "write k8=5 by p7", "read k8 by p3", "cas k8 from 1 to 2 by p2".
func (x xop) name() string {
	switch x.in.F {
	case Write:
		return fmt.Sprintf("write %s=%d by p%d", x.in.Key, x.in.Value, x.meta.process)
	case CAS:
		return fmt.Sprintf("cas %s from %d to %d by p%d", x.in.Key, x.in.Value, x.in.To, x.meta.process)
	}
	return fmt.Sprintf("%s %s by p%d", x.in.F, x.in.Key, x.meta.process)
}

// result is what an acknowledged operation did, with its time: "was
// acknowledged at 1.20 s", "returned 3 at 1.20 s", "succeeded at 1.20 s".
func (x xop) result() string {
	at := seconds(x.Return)
	switch x.in.F {
	case Read:
		if !x.out.Set {
			return "returned nothing (never written) at " + at
		}
		return fmt.Sprintf("returned %d at %s", x.out.Value, at)
	case CAS:
		return "succeeded at " + at
	}
	return "was acknowledged at " + at
}

// describeOp is one line of an explanation's operations.
func describeOp(op porcupine.Operation, events []Event) string {
	x := newXop(op)
	inv := "invoked at " + seconds(x.Call)
	switch x.meta.outcome {
	case OK:
		return fmt.Sprintf("%s: %s, %s", x.name(), inv, x.result())
	case Info:
		at := ""
		if c := x.meta.complete; c >= 0 && c < len(events) {
			at = " at " + seconds(events[c].Time)
		}
		return fmt.Sprintf("%s: %s, outcome unknown%s (it may have taken effect at any time after %s)",
			x.name(), inv, at, seconds(x.Call))
	}
	return fmt.Sprintf("%s: %s, never completed (it may have taken effect at any time after %s)", x.name(), inv, seconds(x.Call))
}

// classify names the anomaly a proven set shows, with a headline.
func classify(set, keyOps []porcupine.Operation, events []Event) (Anomaly, string) {
	xs, all := xops(set), xops(keyOps)
	if h, ok := neverWritten(xs, all, events); ok {
		return NeverWritten, h
	}
	if h, ok := duplicateApply(xs, all); ok {
		return DuplicateApply, h
	}
	if a, h, ok := staleOrLost(xs, all); ok {
		return a, h
	}
	return Unexplained, fmt.Sprintf("no order of these %d operations explains their results", len(set))
}

func xops(ops []porcupine.Operation) []xop {
	out := make([]xop, len(ops))
	for i, op := range ops {
		out[i] = newXop(op)
	}
	return out
}

// putters are the operations of ops that may have put v in the register.
func putters(ops []xop, v int64) []xop {
	var out []xop
	for _, x := range ops {
		if p, ok := x.puts(); ok && p == v {
			out = append(out, x)
		}
	}
	return out
}

// neverWritten: an operation of the set saw a value that no operation of
// the key (other than failed ones) could have put there.
func neverWritten(xs, all []xop, events []Event) (string, bool) {
	for _, r := range xs {
		v, set, ok := r.observes()
		if !ok || !set || len(putters(all, v)) > 0 {
			continue
		}
		h := fmt.Sprintf("%s %s, but no operation that took effect, or may have, wrote %d to %s", r.name(), r.result(), v, r.in.Key)
		if failedWrite(events, r.in.Key, v) {
			h += fmt.Sprintf(" (a write of %d failed: it definitely did not take effect)", v)
		}
		return h, true
	}
	return "", false
}

func failedWrite(events []Event, key string, v int64) bool {
	for _, e := range events {
		if e.Nemesis || e.Type != Fail || e.Key != key {
			continue
		}
		switch e.F {
		case Write:
			if w, err := e.Int(); err == nil && w == v {
				return true
			}
		case CAS:
			if _, to, err := e.Pair(); err == nil && to == v {
				return true
			}
		}
	}
	return false
}

// duplicateApply: the set saw a value, then an acknowledged change away
// from it, then the value again, and only one operation of the key ever
// writes it (and the value stayed: the next look after also sees it); or
// two identical cas both succeeded one after the other with nothing
// putting their compare value back between them.
func duplicateApply(xs, all []xop) (string, bool) {
	for _, o1 := range xs {
		v, set, ok := o1.observes()
		if !ok || !set {
			continue
		}
		only := putters(all, v)
		if len(only) != 1 {
			continue
		}
		for _, y := range xs {
			u, _ := y.puts()
			if !y.acked() || u == v || !o1.before(y) {
				continue
			}
			for _, o2 := range xs {
				w, set2, ok2 := o2.observes()
				if !ok2 || !set2 || w != v || !y.before(o2) || !persisted(all, o2, v) {
					continue
				}
				return fmt.Sprintf("%s seems to have taken effect twice: %s %s, then %s %s, then %s %s, "+
					"though no other operation writes %d to %s",
					only[0].name(), o1.name(), o1.result(), y.name(), y.result(), o2.name(), again(o2.result()), v, o1.in.Key), true
			}
		}
	}
	for _, c1 := range xs {
		for _, c2 := range xs {
			if c1.in.F != CAS || c2.in.F != CAS || !c1.out.Known || !c2.out.Known || !c1.before(c2) ||
				c1.in.Value != c2.in.Value || c1.in.To != c2.in.To || c1.in.Value == c1.in.To {
				continue
			}
			restored := false
			for _, p := range putters(xs, c1.in.Value) {
				if p.Call < c2.Call && p.Return > c1.Call {
					restored = true
				}
			}
			if !restored {
				return fmt.Sprintf("the change of %s from %d to %d took effect twice: %s %s, then %s %s, "+
					"though nothing put %d back in between", c1.in.Key, c1.in.Value, c1.in.To,
					c1.name(), c1.result(), c2.name(), c2.result(), c1.in.Value), true
			}
		}
	}
	return "", false
}

// persisted says the next acknowledged look at the register after o (in
// the whole key) saw v too, or there was none: the value came back to
// stay, not as one stale read.
func persisted(all []xop, o xop, v int64) bool {
	next, ok := nextLook(all, o)
	if !ok {
		return true
	}
	w, set, _ := next.observes()
	return set && w == v
}

// nextLook is the first acknowledged operation invoked after o completed
// that saw the register's value.
func nextLook(all []xop, o xop) (xop, bool) {
	var best xop
	found := false
	for _, x := range all {
		if _, _, ok := x.observes(); ok && o.before(x) && (!found || x.Call < best.Call) {
			best, found = x, true
		}
	}
	return best, found
}

// staleOrLost: an acknowledged change w completed before an operation r
// began, yet r saw something else (u). Which of the two it looks like is
// told by the next operation to look at the register after r: seeing w's
// value, r was a stale read; seeing u again, w's value is gone, a lost
// write. When the next look saw neither (or there is none), w's value
// having been seen before r makes it a stale read, else a lost write.
func staleOrLost(xs, all []xop) (Anomaly, string, bool) {
	var r, w xop
	found := false
	for _, cand := range xs {
		u, uset, ok := cand.observes()
		if !ok || (found && cand.Return <= r.Return) {
			continue
		}
		var latest xop
		have := false
		for _, x := range xs {
			if x.acked() && x.before(cand) && (!have || x.Return > latest.Return) {
				latest, have = x, true
			}
		}
		if v, _ := latest.puts(); have && (!uset || v != u) {
			r, w, found = cand, latest, true
		}
	}
	if !found {
		return "", "", false
	}
	v, _ := w.puts()
	u, uset, _ := r.observes()
	var seen *xop // an operation that saw v between w's invocation and r's completion
	for _, x := range all {
		if got, set, ok := x.observes(); ok && set && got == v && x.Call > w.Call && x.Return < r.Return {
			seen = &x
			break
		}
	}
	next, hasNext := nextLook(all, r)
	nextV, nextSet, _ := next.observes()
	stale := seen != nil
	switch {
	case hasNext && nextSet && nextV == v:
		stale = true
	case hasNext && nextSet == uset && (!uset || nextV == u):
		stale = false
	}
	nextWords := ""
	if hasNext {
		nextWords = fmt.Sprintf(", and the next look, %s, %s", next.name(), next.result())
	}
	if stale {
		h := fmt.Sprintf("%s %s, but %s %s, before it began", r.name(), r.result(), w.name(), w.result())
		if seen != nil { // that says it already; the next look would be one more
			return StaleRead, h + fmt.Sprintf(", and %s %s", seen.name(), seen.result()), true
		}
		return StaleRead, h + nextWords, true
	}
	h := fmt.Sprintf("%s %s", w.name(), w.result())
	if seen != nil {
		h += fmt.Sprintf(" (and %s %s)", seen.name(), seen.result())
	}
	h += fmt.Sprintf(", but %s, invoked after it at %s, %s", r.name(), seconds(r.Call), r.result())
	return LostWrite, h + nextWords, true
}

// again puts "again" before the time of a result: "returned 2 again at
// 1.20 s".
func again(result string) string {
	if i := strings.LastIndex(result, " at "); i >= 0 {
		return result[:i] + " again" + result[i:]
	}
	return result + " again"
}
