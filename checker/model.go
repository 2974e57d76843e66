package checker

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Input is the porcupine input of a register operation.
type Input struct {
	F     string // Read, Write or CAS
	Key   string
	Value int64 // write: the value written; cas: the value compared (from)
	To    int64 // cas: the value set when the compare matched
}

// Output is the porcupine output of a register operation.
type Output struct {
	// Known is false when the outcome is unknown (info, or never completed):
	// the model then accepts the operation whether or not it took effect.
	Known bool
	Value int64 // read: the value read, when Set
	Set   bool  // read: false means null, the register was never written
}

// register is the state of one key. The zero value is "never written",
// which a read reports as null and which is not the same as 0.
type register struct {
	set   bool
	value int64
}

// opMeta rides along in porcupine.Operation.Metadata, for the tooltip.
type opMeta struct {
	process  int
	invoke   int  // index of the invocation
	complete int  // index of the completion
	outcome  Type // OK or Info; Invoke when it never completed
}

// Model returns the porcupine model of independent registers, partitioned by
// key. Its inputs and outputs are [Input] and [Output]; operations of other
// types are refused rather than panicking on.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() interface{} { return register{} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			return step(state, input, output)
		},
		// The step is constant time, so the context matters only as a way
		// out once porcupine's deadline has passed.
		StepContext: func(ctx context.Context, state, input, output interface{}) (bool, interface{}) {
			if ctx.Err() != nil {
				return false, state
			}
			return step(state, input, output)
		},
		Equal: func(a, b interface{}) bool {
			ra, okA := a.(register)
			rb, okB := b.(register)
			return okA && okB && ra == rb
		},
		Hash:                      hashState,
		DescribeOperation:         describeOperation,
		DescribeState:             describeState,
		DescribeOperationMetadata: describeMeta,
	}
}

func step(state, input, output interface{}) (bool, interface{}) {
	s, ok1 := state.(register)
	in, ok2 := input.(Input)
	out, ok3 := output.(Output)
	if !ok1 || !ok2 || !ok3 {
		return false, state
	}
	switch in.F {
	case Read:
		if !out.Known {
			return true, s // a read with an unknown result constrains nothing
		}
		if !out.Set {
			return !s.set, s
		}
		return s.set && s.value == out.Value, s
	case Write:
		// An unknown write is always allowed to apply here: porcupine may
		// place it after everything else, which is the same as "never".
		return true, register{set: true, value: in.Value}
	case CAS:
		matched := s.set && s.value == in.Value
		if matched {
			return true, register{set: true, value: in.To}
		}
		// An ok cas applied, so it must have matched. An unknown one
		// that does not match here simply did nothing at this point.
		return !out.Known, s
	}
	return false, s
}

// hashState must agree with Equal: equal registers hash equal.
func hashState(state interface{}) uint64 {
	s, ok := state.(register)
	if !ok || !s.set {
		return 0
	}
	// A multiplicative mix spreads consecutive values across buckets.
	return (uint64(s.value) + 1) * 0x9E3779B97F4A7C15
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	keys, parts := byKey(history)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = parts[k]
	}
	return out
}

// byKey splits operations by key, keeping their order. Keys come sorted so
// that partitions, and the view, are in a deterministic order.
func byKey(ops []porcupine.Operation) (keys []string, parts map[string][]porcupine.Operation) {
	parts = make(map[string][]porcupine.Operation)
	for _, op := range ops {
		in, _ := op.Input.(Input)
		parts[in.Key] = append(parts[in.Key], op)
	}
	for k := range parts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, parts
}

func describeOperation(input, output interface{}) string {
	in, ok1 := input.(Input)
	out, ok2 := output.(Output)
	if !ok1 || !ok2 {
		return fmt.Sprintf("%v -> %v", input, output)
	}
	var b strings.Builder
	switch in.F {
	case Read:
		fmt.Fprintf(&b, "read(%s)", in.Key)
		switch {
		case !out.Known:
			b.WriteString(" -> ?")
		case out.Set:
			fmt.Fprintf(&b, " -> %d", out.Value)
		default:
			b.WriteString(" -> null")
		}
		return b.String()
	case Write:
		fmt.Fprintf(&b, "write(%s, %d)", in.Key, in.Value)
	case CAS:
		fmt.Fprintf(&b, "cas(%s, %d->%d)", in.Key, in.Value, in.To)
	default:
		fmt.Fprintf(&b, "%s(%s)", in.F, in.Key)
	}
	if !out.Known {
		b.WriteString(" ?") // may or may not have taken effect
	}
	return b.String()
}

func describeState(state interface{}) string {
	s, ok := state.(register)
	switch {
	case !ok:
		return fmt.Sprintf("%v", state)
	case !s.set:
		return "unset"
	}
	return fmt.Sprintf("%d", s.value)
}

func describeMeta(meta interface{}) string {
	m, ok := meta.(opMeta)
	if !ok {
		if meta == nil {
			return ""
		}
		return fmt.Sprintf("%v", meta)
	}
	switch m.outcome {
	case Invoke:
		return fmt.Sprintf("process %d, event %d, never completed", m.process, m.invoke)
	case Info:
		return fmt.Sprintf("process %d, events %d-%d, info: may have taken effect", m.process, m.invoke, m.complete)
	}
	return fmt.Sprintf("process %d, events %d-%d, %s", m.process, m.invoke, m.complete, m.outcome)
}
