package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// NemesisTag is the porcupine annotation tag of the nemesis's row. Faults
// that overlap in time go on further rows, "nemesis 2" and so on, so that
// none hides another.
const NemesisTag = "nemesis"

// faultStarts lists the actions that put a fault in force, in a fixed order
// for determinism.
func faultStarts() []string {
	return []string{"partition", "kill", "pause", "degrade", "lose-unfsynced", "corrupt", "remove"}
}

// selfEnding lists the faults that are over once their action completes:
// a member replaced by a new one, a leadership transfer. Each is a span
// from its invocation to its completion.
func selfEnding(f string) bool { return f == "replace" || f == "transfer-leader" || f == "propose" }

// faultEnds maps an action that ends faults to the actions that start
// them: the span between them is when the fault was in force. A partition
// replaces the partition in force, so it ends that one too; heal-all, the
// harness's final action, ends every fault.
func faultEnds(f string) []string {
	switch f {
	case "heal", "partition":
		return []string{"partition"}
	case "start":
		return []string{"kill", "lose-unfsynced", "corrupt"}
	case "resume":
		return []string{"pause"}
	case "restore-links", "degrade":
		return []string{"degrade"}
	case "add":
		return []string{"remove"}
	case "heal-all":
		return faultStarts()
	}
	return nil
}

// action is one nemesis action: its invocation and the info that ends it.
type action struct {
	f          string
	start, end int64
	from, to   int // event indices
	value      json.RawMessage
	result     json.RawMessage
	completed  bool
}

// span is one annotation before it is given a row.
type span struct {
	index         int // the event index where it starts
	endIndex      int // the event index of the ending action's invocation
	start, end    int64
	desc, details string
	label         string // a fault's short description
	fault, open   bool
}

// nemesisAnnotations turns every nemesis event into an annotation: a fault
// from its start to the action that ends it (partition..heal, kill..start,
// pause..resume), or an action on its own (its invocation to its info).
func nemesisAnnotations(events []Event) []porcupine.Annotation {
	return layout(nemesisSpans(events))
}

// FaultSpan is a fault in force: from the action that started it to the
// one that ended it (partition..heal, kill..start, pause..resume,
// remove..add), or a change that is over when its action completes
// (replace, transfer-leader).
type FaultSpan struct {
	Index int // the event index of the starting action's invocation
	// EndIndex is the event index of the ending action's invocation;
	// Index itself when the fault ended itself or never ended.
	EndIndex int
	F        string // partition, kill or pause
	Label    string // the action as written, e.g. "partition majorities-ring" or "kill kill-leader n3"
	Start    int64  // when the starting action was invoked
	End      int64  // when the ending action completed; the history's end if Open
	Open     bool   // never ended in the history
}

// FaultSpans lists the faults in force during a history, by start time,
// paired as the HTML view pairs them.
func FaultSpans(events []Event) []FaultSpan {
	var out []FaultSpan
	for _, s := range nemesisSpans(events) {
		if s.fault {
			out = append(out, FaultSpan{Index: s.index, EndIndex: s.endIndex, F: s.desc, Label: s.label, Start: s.start, End: s.end, Open: s.open})
		}
	}
	slices.SortStableFunc(out, func(a, b FaultSpan) int { return cmp.Compare(a.Start, b.Start) })
	return out
}

// nemesisSpans pairs the nemesis events into spans: faults in force and
// actions of their own.
func nemesisSpans(events []Event) []span {
	var last int64
	for _, e := range events {
		last = max(last, e.Time)
	}
	var spans []span
	open := make(map[string][]action) // fault start f -> faults in force
	for _, a := range nemesisActions(events) {
		endedAny := false
		starters := faultEnds(a.f)
		if one := endsOne(a.f); one && len(starters) > 1 {
			// A start ends one fault: the one on its nodes, of whichever
			// kind, else the oldest of the first kind in force.
			starters = pickStarter(open, starters, a)
		}
		for _, starter := range starters {
			var ended []action
			ended, open[starter] = closeFaults(open[starter], a)
			endedAny = endedAny || len(ended) > 0
			for _, o := range ended {
				spans = append(spans, span{index: o.from, endIndex: a.from, start: o.start, end: a.end, fault: true, label: label(o),
					desc: o.f, details: describeAction(o) + "\nended by " + describeAction(a)})
			}
		}
		if slices.Contains(faultStarts(), a.f) {
			open[a.f] = append(open[a.f], a)
			continue
		}
		if selfEnding(a.f) {
			sp := span{index: a.from, endIndex: a.from, start: a.start, end: a.end, fault: true, label: label(a),
				desc: a.f, details: describeAction(a)}
			if !a.completed {
				sp.end, sp.open = max(a.end, last), true
				sp.details += "\nnever completed in the history"
			}
			spans = append(spans, sp)
			continue
		}
		if endedAny {
			continue // drawn as the end of the faults it ended
		}
		spans = append(spans, span{index: a.from, start: a.start, end: a.end, desc: a.f, details: describeAction(a)})
	}
	for _, f := range faultStarts() {
		for _, o := range open[f] {
			spans = append(spans, span{index: o.from, endIndex: o.from, start: o.start, end: max(o.end, last), fault: true, label: label(o), open: true,
				desc: o.f, details: describeAction(o) + "\nnever ended in the history"})
		}
	}
	return spans
}

// nemesisActions pairs each nemesis invocation with the next info of the
// same f. An info without an invocation, or an invocation without an info,
// is an action of its own.
func nemesisActions(events []Event) []action {
	var actions []action
	waiting := make(map[string][]int) // f -> actions awaiting their info
	for _, e := range events {
		if !e.Nemesis {
			continue
		}
		if q := waiting[e.F]; e.Type == Info && len(q) > 0 {
			a := &actions[q[0]]
			waiting[e.F] = q[1:]
			a.end, a.to, a.result, a.completed = e.Time, e.Index, e.Value, true
			continue
		}
		a := action{f: e.F, start: e.Time, end: e.Time, from: e.Index, to: e.Index}
		if e.Type == Invoke {
			a.value = e.Value
			waiting[e.F] = append(waiting[e.F], len(actions))
		} else {
			a.result, a.completed = e.Value, true
		}
		actions = append(actions, a)
	}
	return actions
}

// endsOne reports whether an ending action ends a single fault (a start
// or resume on some nodes) rather than every fault of its kinds.
func endsOne(f string) bool { return f == "start" || f == "resume" || f == "add" }

// pickStarter chooses, among the kinds a start can end, the one whose
// fault in force is on the start's nodes, else the first kind in force.
func pickStarter(open map[string][]action, starters []string, end action) []string {
	for _, st := range starters {
		if slices.ContainsFunc(open[st], func(o action) bool { return sameNodes(o.value, end.value) }) {
			return []string{st}
		}
	}
	for _, st := range starters {
		if len(open[st]) > 0 {
			return []string{st}
		}
	}
	return nil
}

// closeFaults picks the faults an ending action ends: heal, heal-all and
// a new partition end every partition; start or resume ends the fault on
// the same nodes if there is one, else the oldest.
func closeFaults(faults []action, end action) (ended, rest []action) {
	if len(faults) == 0 {
		return nil, nil
	}
	switch end.f {
	case "heal", "heal-all", "partition", "restore-links", "degrade":
		return faults, nil
	}
	i := slices.IndexFunc(faults, func(o action) bool { return sameNodes(o.value, end.value) })
	if i < 0 {
		i = 0
	}
	rest = append(slices.Clone(faults[:i]), faults[i+1:]...)
	return faults[i : i+1], rest
}

// sameNodes reports whether two actions' values name the same nodes: a
// kill and the start that undoes it differ in name but not in nodes.
func sameNodes(a, b json.RawMessage) bool {
	var x, y struct {
		Nodes []string `json:"nodes"`
	}
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return slices.Equal(x.Nodes, y.Nodes)
}

func describeAction(a action) string {
	var b strings.Builder
	b.WriteString(a.f)
	if !isNull(a.value) {
		b.WriteString(" " + readable(a.value))
	}
	fmt.Fprintf(&b, " at %v (event %d)", time.Duration(a.start), a.from)
	switch {
	case !a.completed:
		b.WriteString(", no completion")
	case a.to != a.from:
		fmt.Fprintf(&b, ", done at %v (event %d)", time.Duration(a.end), a.to)
	}
	if !isNull(a.result) && string(a.result) != string(a.value) {
		b.WriteString(": " + readable(a.result))
	}
	return b.String()
}

// label describes a fault's starting action in a few words: its f and,
// from a value {"name": ..., "nodes": [...]}, the name and the nodes.
func label(a action) string {
	var v struct {
		Name  string   `json:"name"`
		Nodes []string `json:"nodes"`
	}
	parts := []string{a.f}
	if json.Unmarshal(a.value, &v) == nil {
		if v.Name != "" {
			parts = append(parts, v.Name)
		}
		if len(v.Nodes) > 0 {
			parts = append(parts, strings.Join(v.Nodes, ","))
		}
	} else if s := readable(a.value); len(s) <= 40 && !isNull(a.value) {
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// readable shows a JSON string without its quotes and any other value as it
// is, cut short: it goes in a tooltip.
func readable(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}

// layout sorts spans by time and gives each the first row where it overlaps
// nothing.
func layout(spans []span) []porcupine.Annotation {
	slices.SortStableFunc(spans, func(a, b span) int {
		if a.start != b.start {
			return cmp.Compare(a.start, b.start)
		}
		return cmp.Compare(a.end, b.end)
	})
	var rowEnds []int64
	out := make([]porcupine.Annotation, 0, len(spans))
	for _, s := range spans {
		row := slices.IndexFunc(rowEnds, func(end int64) bool { return s.start > end })
		if row < 0 {
			row = len(rowEnds)
			rowEnds = append(rowEnds, 0)
		}
		rowEnds[row] = s.end
		tag := NemesisTag
		if row > 0 {
			tag = fmt.Sprintf("%s %d", NemesisTag, row+1)
		}
		a := porcupine.Annotation{Tag: tag, Start: s.start, End: s.end, Description: s.desc, Details: s.details}
		if s.fault {
			a.BackgroundColor = "#f4cccc" // faults in force stand out from one-off actions
		}
		out = append(out, a)
	}
	return out
}
