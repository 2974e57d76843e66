package checker

import "github.com/anishathalye/porcupine"

// explainState is a register that may also be "any value": its state at the
// start of a window whose value is not known, after a start cut.
type explainState struct {
	any bool
	reg register
}

// explainModel is the register model with, optionally, "any value" as the
// initial state. A register in "any value" takes whatever the first
// operation that looks at it says.
func explainModel(anyInit bool) porcupine.Model {
	m := Model()
	m.Partition = nil
	m.Init = func() interface{} { return explainState{any: anyInit} }
	m.Step = func(state, input, output interface{}) (bool, interface{}) {
		return explainStep(state, input, output)
	}
	m.StepContext = nil
	m.Equal = func(a, b interface{}) bool {
		sa, okA := a.(explainState)
		sb, okB := b.(explainState)
		return okA && okB && sa == sb
	}
	m.Hash = func(state interface{}) uint64 {
		s, _ := state.(explainState)
		if s.any {
			return 1
		}
		return hashState(s.reg)
	}
	m.DescribeState = func(state interface{}) string {
		if s, ok := state.(explainState); ok {
			if s.any {
				return "any value"
			}
			return describeState(s.reg)
		}
		return describeState(state)
	}
	return m
}

func explainStep(state, input, output interface{}) (bool, interface{}) {
	s, ok1 := state.(explainState)
	in, ok2 := input.(Input)
	out, ok3 := output.(Output)
	if !ok1 || !ok2 || !ok3 {
		return false, state
	}
	if !s.any {
		ok, next := step(s.reg, input, output)
		r, _ := next.(register)
		return ok, explainState{reg: r}
	}
	switch in.F {
	case Read:
		if !out.Known {
			return true, s
		}
		return true, explainState{reg: register{set: out.Set, value: out.Value}}
	case Write:
		return true, explainState{reg: register{set: true, value: in.Value}}
	case CAS:
		if out.Known { // it matched, so the register held in.Value
			return true, explainState{reg: register{set: true, value: in.To}}
		}
		return true, s // matched or not: still any value, which allows both
	}
	return false, s
}
