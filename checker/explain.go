package checker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// ErrNotExplained is wrapped by Explain's error when the key's operations
// were not proven non-linearizable within the time allowed: the key is
// valid, or its check did not finish.
var ErrNotExplained = errors.New("no violation proven")

// DefaultExplainTimeout bounds an explanation when the context has no
// earlier deadline.
const DefaultExplainTimeout = 10 * time.Second

// MaxViewOps bounds the operations drawn in an explanation's HTML view.
const MaxViewOps = 60

// Anomaly names the kind of violation an explanation found.
type Anomaly string

// The anomalies an explanation can tell apart; Unexplained when none fits.
const (
	StaleRead      Anomaly = "stale read"
	LostWrite      Anomaly = "lost write"
	DuplicateApply Anomaly = "duplicate apply"
	NeverWritten   Anomaly = "read of a never-written value"
	Unexplained    Anomaly = "not linearizable"
)

// ExplainOptions tunes [Explain].
type ExplainOptions struct {
	// Statuses are the nodes' sampled states (statuses.jsonl), if any:
	// the explanation then says who led which term in its window.
	Statuses []StatusSample
	// Timeout bounds the search; 0 means DefaultExplainTimeout. The
	// context's deadline, if earlier, wins.
	Timeout time.Duration
	// Result is the Check result of the same events, if at hand: a key it
	// found valid is not searched, and where porcupine's partial
	// linearizations got stuck is the first place the search looks. Like
	// WriteHTML, Explain must then not run at the same time as a WriteHTML
	// of that Result.
	Result *Result
}

// Explanation is a small set of one key's operations that cannot be
// linearized, put in plain words.
type Explanation struct {
	Key     string
	Anomaly Anomaly
	// Headline is one sentence: the anomaly and the operations that show it.
	Headline string
	// Operations describes each operation of the set, in invocation order,
	// with its process and times (seconds since the run started).
	Operations []string
	// Conclusion says why the set proves the violation.
	Conclusion string
	// Faults lists the nemesis's faults in force during the window.
	Faults []string
	// Nodes says what the nodes were doing at the window's start and end;
	// empty without status samples.
	Nodes []string
	// Start and End bound the window of the faults and node states: the
	// first invocation of an acknowledged operation of the set (of any
	// operation if none is acknowledged) and its last known time, in
	// nanoseconds since the run started. An operation of unknown outcome
	// may have been invoked long before Start.
	Start, End int64
	// Minimal is false when the deadline stopped the shrinking early: the
	// set still cannot be linearized, but may hold operations that could go.
	Minimal bool
	// KeyOps is how many operations of the key were checked.
	KeyOps int

	ops         []porcupine.Operation // the set, as checked (cuts applied)
	shown       []porcupine.Operation // the set as it happened, for the view
	anyInit     bool                  // the window starts with "any value"
	annotations []porcupine.Annotation
}

// Explain finds a small set of key's operations in events that cannot be
// linearized and says in words what went wrong. Operations are taken from
// the history exactly as [Check] takes them (fail dropped, info and
// never-completed ones of unknown outcome). The search is bounded by ctx
// and opts.Timeout; when the time runs out after a violation was proven,
// the explanation is returned with Minimal false. An error wrapping
// ErrNotExplained means no violation was proven on the key.
func Explain(ctx context.Context, events []Event, key string, opts ExplainOptions) (*Explanation, error) {
	all, err := Operations(events)
	if err != nil {
		return nil, fmt.Errorf("explain %s: %w", key, err)
	}
	_, parts := byKey(all)
	ops := parts[key]
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultExplainTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &search{ctx: ctx}

	// porcupine's own partial linearizations, when the check's result is
	// at hand, say roughly where it got stuck: the first prefix to try.
	hint := int64(-1)
	if opts.Result != nil {
		for _, k := range opts.Result.Keys {
			if k.Key == key && k.Verdict == Valid {
				return nil, fmt.Errorf("explain %s: %w: the key is linearizable", key, ErrNotExplained)
			}
		}
		if info, ok := opts.Result.LinearizationInfo(key); ok {
			hint = stuckHint(ops, info)
		}
	}
	end, ok := s.shortestPrefix(ops, hint)
	if !ok {
		return nil, fmt.Errorf("explain %s: %w (searched for at most %v)", key, ErrNotExplained, timeout)
	}
	// Two searches: from a start cut (short, but the register's value at
	// the cut is unknown), and from the whole prefix (the register starts
	// never written), which sometimes ends smaller, e.g. one read of a
	// value nobody wrote. The second gets a quarter of the time left and
	// is kept only if it finished, is smaller, and reads on its own.
	whole := prefix(ops, end)
	if x, ok := unwritten(whole, ops); ok {
		return explained(key, []cand{x}, false, true, ops, events, opts.Statuses), nil
	}
	set, anyInit := s.latestStart(whole)
	set = s.shrink(set, anyInit)
	minimal := ctx.Err() == nil
	if deadline, _ := ctx.Deadline(); anyInit && minimal && len(whole) <= maxWholeSearch {
		actx, acancel := context.WithTimeout(ctx, time.Until(deadline)/4)
		alt := (&search{ctx: actx}).shrink(whole, false)
		if actx.Err() == nil && len(alt) < len(set) && selfContained(alt, ops) {
			set, anyInit = alt, false
		}
		acancel()
	}
	return explained(key, set, anyInit, minimal, ops, events, opts.Statuses), nil
}

// maxWholeSearch bounds the prefix the second search (from "never
// written") starts from: each of its checks covers the whole prefix.
const maxWholeSearch = 300

// explained puts a proven set in words.
func explained(key string, set []cand, anyInit, minimal bool, keyOps []porcupine.Operation, events []Event, statuses []StatusSample) *Explanation {
	slices.SortFunc(set, byCall)
	x := &Explanation{Key: key, Minimal: minimal, KeyOps: len(keyOps), anyInit: anyInit}
	orig := make([]porcupine.Operation, len(set))
	for i, c := range set {
		x.ops = append(x.ops, c.op)
		orig[i] = keyOps[c.orig]
	}
	var first int64
	x.shown = orig
	x.Start, x.End, first = windowSpan(orig)
	x.describe(orig, keyOps, events, statuses, first)
	return x
}

// unwritten finds an acknowledged operation of the prefix that saw a value
// no operation of the key puts: on its own it cannot be linearized, since
// the register starts never written and nothing else could give it that
// value.
func unwritten(cs []cand, keyOps []porcupine.Operation) (cand, bool) {
	all := xops(keyOps)
	for _, c := range cs {
		if v, set, ok := newXop(c.op).observes(); ok && set && len(putters(all, v)) == 0 {
			return c, true
		}
	}
	return cand{}, false
}

// selfContained says every value the set sees is put there by one of its
// operations, or by none of the key's. A set found from "never written"
// may drop every write of a value because a later acknowledged write hides
// it; it is still a proof, but "read 3 cannot be explained" alone would
// leave out the write that makes it so.
func selfContained(set []cand, keyOps []porcupine.Operation) bool {
	ops := make([]porcupine.Operation, len(set))
	for i, c := range set {
		ops[i] = c.op
	}
	xs, all := xops(ops), xops(keyOps)
	for _, x := range xs {
		if v, isSet, ok := x.observes(); ok && isSet && len(putters(xs, v)) == 0 && len(putters(all, v)) > 0 {
			return false
		}
	}
	return true
}

// windowSpan is the window of a set (see Explanation.Start) and its
// first invocation of all.
func windowSpan(ops []porcupine.Operation) (start, end, first int64) {
	first, start = ops[0].Call, int64(unknownReturn)
	for _, op := range ops {
		first = min(first, op.Call)
		end = max(end, op.Call)
		if known(op) {
			start = min(start, op.Call)
			end = max(end, op.Return)
		}
	}
	if start == unknownReturn {
		start = first
	}
	return start, end, first
}

// describe fills in the words: set is the explanation's operations as they
// happened, keyOps all of the key's, first the set's first invocation.
func (x *Explanation) describe(set, keyOps []porcupine.Operation, events []Event, statuses []StatusSample, first int64) {
	for _, op := range set {
		x.Operations = append(x.Operations, describeOp(op, events))
	}
	x.Anomaly, x.Headline = classify(set, keyOps, events)
	var b strings.Builder
	if len(set) == 1 {
		b.WriteString("This operation's result cannot be explained")
	} else {
		fmt.Fprintf(&b, "No order of these %d operations explains their results", len(set))
	}
	if x.anyInit {
		fmt.Fprintf(&b, ", whatever %s held at %s", x.Key, seconds(first))
	}
	others := len(keyOps) - len(set)
	switch others {
	case 0:
		b.WriteString(".")
	case 1:
		fmt.Fprintf(&b, ", and the one other operation on %s cannot change that.", x.Key)
	default:
		fmt.Fprintf(&b, ", and none of the %d other operations on %s can change that.", others, x.Key)
	}
	x.Conclusion = b.String()
	for _, f := range FaultSpans(events) {
		if f.Start <= x.End && f.End >= x.Start {
			until := "until " + seconds(f.End)
			if f.Open {
				until = "never ended"
			}
			x.Faults = append(x.Faults, fmt.Sprintf("%s (from %s, %s)", f.Label, seconds(f.Start), until))
		}
	}
	if len(statuses) > 0 {
		x.Nodes = append(x.Nodes, "at "+seconds(x.Start)+": "+nodeStates(statuses, x.Start))
		if x.End != x.Start {
			x.Nodes = append(x.Nodes, "at "+seconds(x.End)+": "+nodeStates(statuses, x.End))
		}
	}
	for _, a := range nemesisAnnotations(events) {
		if a.Start <= x.End && a.End >= x.Start {
			x.annotations = append(x.annotations, a)
		}
	}
}

// Text is the explanation as plain text, one item per line.
func (x *Explanation) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s: %s\n", x.Anomaly, x.Key, x.Headline)
	for _, o := range x.Operations {
		fmt.Fprintf(&b, "  - %s\n", o)
	}
	fmt.Fprintf(&b, "%s\n", x.Conclusion)
	if !x.Minimal {
		b.WriteString("(the search ran out of time: some of these operations may not be needed)\n")
	}
	if len(x.Faults) == 0 {
		b.WriteString("faults in force: none\n")
	} else {
		fmt.Fprintf(&b, "faults in force: %s\n", strings.Join(x.Faults, "; "))
	}
	for _, n := range x.Nodes {
		fmt.Fprintf(&b, "nodes %s\n", n)
	}
	return b.String()
}

// WriteHTML writes porcupine's view of just the explanation's operations,
// as they happened (the search may have treated some as of unknown
// outcome; with their real outcomes they are no easier to order), with
// the faults of its window. It refuses a set larger than MaxViewOps.
func (x *Explanation) WriteHTML(w io.Writer) error {
	if len(x.shown) > MaxViewOps {
		return fmt.Errorf("explanation view of %s: %d operations, more than %d", x.Key, len(x.shown), MaxViewOps)
	}
	_, info := porcupine.CheckOperationsVerbose(explainModel(x.anyInit), x.shown, time.Minute)
	info.AddAnnotations(x.annotations)
	if err := porcupine.Visualize(explainModel(x.anyInit), info, w); err != nil {
		return fmt.Errorf("explanation view of %s: %w", x.Key, err)
	}
	return nil
}

// seconds formats a history time as seconds since the run started.
func seconds(ns int64) string {
	return fmt.Sprintf("%.2f s", float64(ns)/1e9)
}
