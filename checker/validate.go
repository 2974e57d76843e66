package checker

import (
	"encoding/json"
	"errors"
	"fmt"
)

// validator enforces the rules that make a history mean something: events
// numbered in file order, each completion answering the pending invocation
// of its process, a crashed (info) process never reused. The Reader, the
// Writer and Operations share it, so whatever one accepts the others do.
type validator struct {
	next     int           // the index the next event must carry
	pending  map[int]Event // process -> its invocation awaiting a completion
	lastDone map[int]int   // process -> index of its last completion, for messages
	crashed  map[int]int   // process -> index of the info that ended it
	// nemesis is the nemesis's invocation awaiting its completion: the
	// nemesis acts one action at a time, each an invoke/info pair.
	nemesis *Event
}

func newValidator() *validator {
	return &validator{
		pending:  make(map[int]Event),
		lastDone: make(map[int]int),
		crashed:  make(map[int]int),
	}
}

// add checks e against the history so far and records it. It returns e with
// its value in canonical form (client values re-encoded from their integers),
// which is what gets written and checked.
func (v *validator) add(e Event) (Event, error) {
	if e.Index != v.next {
		return e, fmt.Errorf("index %d, want %d (events are numbered from 0 in file order)", e.Index, v.next)
	}
	if e.Time < 0 {
		return e, fmt.Errorf("time %d is negative", e.Time)
	}
	switch e.Type {
	case Invoke, OK, Fail, Info:
	default:
		return e, fmt.Errorf("type %q: want invoke, ok, fail or info", e.Type)
	}
	var err error
	if e.Nemesis {
		e.Process = 0 // not in the file: "process":"nemesis"
		err = v.checkNemesis(e)
	} else {
		e, err = v.addClient(e)
	}
	if err != nil {
		return e, err
	}
	v.next++
	return e, nil
}

func (v *validator) checkNemesis(e Event) error {
	if e.Type != Invoke && e.Type != Info {
		return fmt.Errorf("nemesis event of type %q: want invoke or info", e.Type)
	}
	if e.F == "" {
		return errors.New(`nemesis event without "f" (the fault)`)
	}
	if !isNull(e.Value) && !json.Valid(e.Value) {
		return fmt.Errorf("nemesis value %s is not JSON", show(e.Value))
	}
	pending := v.nemesis
	switch {
	case e.Type == Invoke && pending != nil:
		return fmt.Errorf("nemesis invokes %s while its %s invoked at index %d is pending (each action is an invoke/info pair)", e.F, pending.F, pending.Index)
	case e.Type == Invoke:
		inv := e
		v.nemesis = &inv
	case pending == nil:
		return fmt.Errorf("nemesis info %s without an invocation (each action is an invoke/info pair)", e.F)
	case pending.F != e.F:
		return fmt.Errorf("nemesis info %s answers the invocation of %s at index %d", e.F, pending.F, pending.Index)
	default:
		v.nemesis = nil
	}
	return nil
}

// end checks the history as a whole once it has no more events: a client
// invocation may stay pending (it counts as info), a nemesis action may not,
// since the harness always records its completion.
func (v *validator) end() error {
	if v.nemesis != nil {
		return fmt.Errorf("the nemesis's %s invoked at index %d never completed", v.nemesis.F, v.nemesis.Index)
	}
	return nil
}

func (v *validator) addClient(e Event) (Event, error) {
	if e.Key == "" {
		return e, fmt.Errorf("process %d: %s without a key", e.Process, e.F)
	}
	value, err := canonicalValue(e)
	if err != nil {
		return e, fmt.Errorf("process %d: %s %s: %w", e.Process, e.F, e.Type, err)
	}
	e.Value = value
	p := e.Process
	if e.Type == Invoke {
		if at, ok := v.crashed[p]; ok {
			return e, fmt.Errorf("process %d invokes again after its info at index %d (a process with an unknown outcome is never reused)", p, at)
		}
		if inv, ok := v.pending[p]; ok {
			return e, fmt.Errorf("process %d invokes while its invocation at index %d is pending", p, inv.Index)
		}
		v.pending[p] = e
		return e, nil
	}
	inv, ok := v.pending[p]
	if !ok {
		if at, done := v.lastDone[p]; done {
			return e, fmt.Errorf("process %d: %s without a pending invocation (its last operation already completed at index %d)", p, e.Type, at)
		}
		return e, fmt.Errorf("process %d: %s without a pending invocation", p, e.Type)
	}
	if err := matches(inv, e); err != nil {
		return e, fmt.Errorf("process %d: %s does not match its invocation at index %d: %w", p, e.Type, inv.Index, err)
	}
	delete(v.pending, p)
	v.lastDone[p] = e.Index
	if e.Type == Info {
		v.crashed[p] = e.Index
	}
	return e, nil
}

// matches checks that a completion is about the same operation as its
// invocation: a recorder that mixes them up would make the check meaningless.
func matches(inv, done Event) error {
	switch {
	case inv.F != done.F:
		return fmt.Errorf("f %q, invoked %q", done.F, inv.F)
	case inv.Key != done.Key:
		return fmt.Errorf("key %q, invoked %q", done.Key, inv.Key)
	case done.Time < inv.Time:
		return fmt.Errorf("time %d is before the invocation's %d", done.Time, inv.Time)
	case inv.F != Read && string(inv.Value) != string(done.Value):
		return fmt.Errorf("value %s, invoked %s", show(done.Value), show(inv.Value))
	}
	return nil
}

// canonicalValue checks a client event's value against its f and type and
// re-encodes it, so that equal values are equal bytes.
func canonicalValue(e Event) (json.RawMessage, error) {
	switch e.F {
	case Read:
		if e.Type != OK {
			if !isNull(e.Value) {
				return nil, fmt.Errorf("value %s: want null", show(e.Value))
			}
			return nil, nil
		}
		v, set, err := e.NullableInt()
		if err != nil || !set {
			return nil, err
		}
		return IntValue(v), nil
	case Write:
		v, err := e.Int()
		if err != nil {
			return nil, err
		}
		return IntValue(v), nil
	case CAS:
		from, to, err := e.Pair()
		if err != nil {
			return nil, err
		}
		return PairValue(from, to), nil
	}
	return nil, fmt.Errorf("unknown f %q: want read, write or cas", e.F)
}
