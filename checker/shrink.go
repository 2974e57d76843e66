package checker

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
)

// The search for a small illegal set of one key's operations. Every step
// keeps a proof: if the smaller set cannot be linearized, neither can the
// one it came from, and so neither can the history. Three steps are sound:
//
//   - Cutting the end at time T: operations invoked after T are dropped and
//     those still running at T become "outcome unknown". Linearizability is
//     prefix-closed, so an illegal prefix makes the history illegal, and
//     illegality only grows with T: the shortest illegal prefix is found by
//     bisection.
//   - Cutting the start at time T0: operations acknowledged before T0 are
//     dropped, acknowledged ones running across T0 become "outcome unknown",
//     and the register starts in "any value" instead of "never written".
//     Whatever order explained the longer history leaves the register in
//     some state at T0, which "any value" allows; unknown operations that
//     took effect before T0 move to the end, where they do nothing. Again
//     monotone in T0, so the latest illegal start is found by bisection.
//   - Dropping single operations (greedily, in chunks, as delta debugging
//     does): a read of any outcome constrains only itself, so dropping it
//     keeps any order valid; so does a cas from v to v, which never
//     changes the register. A write, or a cas, whose new value v no
//     remaining operation observes (a read returning v, a cas from v) can
//     also go: in any order, the operations between it and the next change
//     of the register neither read v nor compare against it, so without it
//     they still succeed, except an unknown cas that now matches, which can
//     move to the end instead. Operations that completed before it began,
//     or that follow an acknowledged change wholly after it, cannot be
//     among those, whatever they saw.
//
// Dropping any other write is not sound (it could be the one that explains
// a read), which is why a set found under a deadline may stay larger than
// the smallest, but is never wrong.

// cand is an operation of the search, as the check sees it (possibly made
// "outcome unknown" by a cut), with its position in the key's operations.
type cand struct {
	op   porcupine.Operation
	orig int
}

// search holds what one explanation's search needs.
type search struct {
	ctx context.Context
}

// illegal reports whether the operations are proven not linearizable:
// false when they are linearizable or when the deadline cut the check
// short.
func (s *search) illegal(cs []cand, anyInit bool) bool {
	if s.ctx.Err() != nil || len(cs) == 0 {
		return false
	}
	var timeout time.Duration
	if deadline, ok := s.ctx.Deadline(); ok {
		if timeout = time.Until(deadline); timeout <= 0 {
			return false
		}
		// One expensive check must not eat the whole budget: undecided
		// counts as "not proven", which only makes the set larger.
		timeout = max(timeout/4, min(timeout, 50*time.Millisecond))
	}
	ops := make([]porcupine.Operation, len(cs))
	for i, c := range cs {
		ops[i] = c.op
	}
	m := explainModel(anyInit)
	base := m.Step
	m.Step = nil
	// As in checkKey: a refused step after the deadline could look like a
	// violation, hence the ctx.Err check on the result.
	m.StepContext = func(_ context.Context, state, input, output interface{}) (bool, interface{}) {
		if s.ctx.Err() != nil {
			return false, state
		}
		return base(state, input, output)
	}
	return porcupine.CheckOperationsTimeout(m, ops, timeout) == porcupine.Illegal && s.ctx.Err() == nil
}

// unknown is op with its outcome made unknown: it may or may not have
// taken effect, at any time after its invocation.
func unknown(op porcupine.Operation) porcupine.Operation {
	op.Output, op.Return = Output{}, unknownReturn
	return op
}

func known(op porcupine.Operation) bool {
	out, _ := op.Output.(Output)
	return out.Known
}

// prefix is the key's history cut at time t (see the package comment of
// this file): operations invoked by t, those still running made unknown.
func prefix(ops []porcupine.Operation, t int64) []cand {
	var out []cand
	for i, op := range ops {
		if op.Call > t {
			continue
		}
		if op.Return > t {
			op = unknown(op)
		}
		out = append(out, cand{op: op, orig: i})
	}
	return out
}

// window cuts the start of cs at t0: acknowledged operations that returned
// before t0 go, acknowledged ones running across t0 become unknown.
func window(cs []cand, t0 int64) []cand {
	var out []cand
	for _, c := range cs {
		if known(c.op) {
			if c.op.Return < t0 {
				continue
			}
			if c.op.Call < t0 {
				c.op = unknown(c.op)
			}
		}
		out = append(out, c)
	}
	return out
}

// shortestPrefix finds the earliest completion time t of an acknowledged
// operation whose prefix is illegal. It gallops from the start (prefixes
// of 16, 32, 64, ... completions) and then bisects, so that the cost is
// set by where the violation is, not by the key's whole history: a prefix
// with many operations of unknown outcome is expensive to prove. hint, a
// time whose prefix is likely illegal (or -1), is tried first. ok is false
// when no prefix, not even the whole history, is proven illegal in time.
func (s *search) shortestPrefix(ops []porcupine.Operation, hint int64) (t int64, ok bool) {
	var times []int64
	for _, op := range ops {
		if known(op) {
			times = append(times, op.Return)
		}
	}
	slices.Sort(times)
	times = slices.Compact(times)
	illegalAt := func(i int) bool { return s.illegal(prefix(ops, times[i]), false) }
	lo, hi := 0, -1 // every index below lo is legal or undecided; hi is illegal
	if i, found := slices.BinarySearch(times, hint); found && illegalAt(i) {
		hi = i
	}
	for step := 16; hi < 0; step *= 2 {
		i := min(lo+step, len(times)) - 1
		if i < 0 || s.ctx.Err() != nil {
			return 0, false
		}
		if illegalAt(i) {
			hi = i
			break
		}
		if i == len(times)-1 {
			return 0, false
		}
		lo = i + 1
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if illegalAt(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return times[hi], true
}

// latestStart bisects for the latest start cut that leaves cs illegal.
// cs must be illegal with no cut. It returns the cut set and whether a cut
// was made (the register then starts as "any value"). Cuts are tried only
// at the invocations of acknowledged writes and cas, so that a window
// starts with a change of the register rather than in the middle of
// reads: the explanation then reads "this write was acknowledged, yet..."
func (s *search) latestStart(cs []cand) ([]cand, bool) {
	var cuts []int64
	for _, c := range cs {
		if in, _ := c.op.Input.(Input); known(c.op) && in.F != Read && straddlers(cs, c.op.Call) <= maxStraddlers {
			cuts = append(cuts, c.op.Call)
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	lo, hi := -1, len(cuts)-1 // lo: the latest index known illegal (-1: no cut)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.illegal(window(cs, cuts[mid]), true) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo < 0 {
		return cs, false
	}
	return window(cs, cuts[lo]), true
}

// maxStraddlers bounds the acknowledged operations a start cut may make
// "outcome unknown". Each one may take effect anywhere after its
// invocation, which multiplies porcupine's work: a cut through a crowd of
// concurrent operations costs more than the operations it removes.
const maxStraddlers = 2

// straddlers counts the acknowledged operations of cs running across t0.
func straddlers(cs []cand, t0 int64) int {
	n := 0
	for _, c := range cs {
		if known(c.op) && c.op.Call < t0 && c.op.Return >= t0 {
			n++
		}
	}
	return n
}

// shrink drops operations while the set stays illegal, as delta debugging
// does: chunks of the droppable operations first, then smaller ones, until
// no single operation can go or the deadline passes.
func (s *search) shrink(cs []cand, anyInit bool) []cand {
	// An unknown read constrains nothing: it goes without a check.
	cs = slices.DeleteFunc(slices.Clone(cs), func(c cand) bool {
		in, _ := c.op.Input.(Input)
		return in.F == Read && !known(c.op)
	})
	n := 2
	for len(cs) > 1 && s.ctx.Err() == nil {
		size := (len(cs) + n - 1) / n
		dropped := false
		for lo := 0; lo < len(cs) && !dropped; lo += size {
			gone := droppable(cs, lo, min(lo+size, len(cs)))
			if len(gone) == 0 {
				continue
			}
			rest := make([]cand, 0, len(cs)-len(gone))
			for i, c := range cs {
				if !gone[i] {
					rest = append(rest, c)
				}
			}
			if s.illegal(rest, anyInit) {
				cs, dropped = rest, true
			}
		}
		switch {
		case dropped:
			n = max(n-1, 2)
		case size == 1:
			return cs
		default:
			n = min(2*n, len(cs))
		}
	}
	return cs
}

// droppable marks the operations in cs[lo:hi] that may soundly be dropped
// together: every read, then, until nothing changes, every write or cas
// whose new value no operation left in cs can observe.
func droppable(cs []cand, lo, hi int) map[int]bool {
	gone := make(map[int]bool)
	for i := lo; i < hi; i++ {
		// A cas from v to v never changes the register: like a read.
		if in, _ := cs[i].op.Input.(Input); in.F == Read || in.F == CAS && in.Value == in.To {
			gone[i] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for i := lo; i < hi; i++ {
			if gone[i] {
				continue
			}
			in, _ := cs[i].op.Input.(Input)
			v := in.Value // a write's value
			if in.F == CAS {
				v = in.To
			}
			if !observed(cs, gone, i, v) {
				gone[i], changed = true, true
			}
		}
	}
	return gone
}

// observed reports whether an operation of cs other than cs[self], and not
// gone, can see the value v that cs[self] puts: a read that returned v or
// a cas comparing to v, unless it completed before cs[self] began, or an
// acknowledged write or cas lies wholly between the two (it changes the
// register, so v is gone by then in any order).
func observed(cs []cand, gone map[int]bool, self int, v int64) bool {
	w := cs[self].op
	// The earliest completion of a change that begins after w completed.
	sep := int64(unknownReturn)
	for j, c := range cs {
		if in, _ := c.op.Input.(Input); j != self && !gone[j] && in.F != Read && known(c.op) && c.op.Call > w.Return {
			sep = min(sep, c.op.Return)
		}
	}
	for j, c := range cs {
		if j == self || gone[j] || c.op.Return < w.Call || sep < c.op.Call {
			continue
		}
		in, _ := c.op.Input.(Input)
		out, _ := c.op.Output.(Output)
		switch {
		case in.F == Read && out.Known && out.Set && out.Value == v:
			return true
		case in.F == CAS && in.Value == v:
			return true
		}
	}
	return false
}

// stuckHint is where porcupine's longest partial linearization got stuck:
// the earliest completion of an acknowledged operation it could not place.
// -1 when there is none.
func stuckHint(ops []porcupine.Operation, info porcupine.LinearizationInfo) int64 {
	parts := info.PartialLinearizations()
	if len(parts) != 1 {
		return -1
	}
	var longest []int
	for _, p := range parts[0] {
		if len(p) > len(longest) {
			longest = p
		}
	}
	placed := make(map[int]bool, len(longest))
	for _, id := range longest {
		placed[id] = true
	}
	hint := int64(-1)
	for i, op := range ops {
		if !placed[i] && known(op) && (hint < 0 || op.Return < hint) {
			hint = op.Return
		}
	}
	return hint
}

// byCall orders candidates by invocation, then completion, then position.
func byCall(a, b cand) int {
	return cmp.Or(cmp.Compare(a.op.Call, b.op.Call), cmp.Compare(a.op.Return, b.op.Return), cmp.Compare(a.orig, b.orig))
}
