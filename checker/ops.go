package checker

import (
	"fmt"
	"math"

	"github.com/anishathalye/porcupine"
)

// unknownReturn is the return time of an operation whose outcome is unknown:
// after every other time, so porcupine may place it anywhere after its call,
// including "after everything", which is how "did not take effect" looks.
const unknownReturn = math.MaxInt64

// Counts counts client operations by outcome.
type Counts struct {
	OK   int `json:"ok"`
	Fail int `json:"fail"`
	Info int `json:"info"` // including invocations that never completed
}

func (c *Counts) add(o Counts) {
	c.OK += o.OK
	c.Fail += o.Fail
	c.Info += o.Info
}

// Operations pairs each client invocation with its completion and returns
// the operations porcupine checks, in invocation order: ok operations with
// their times, info and never-completed ones with a return time after every
// other and an unknown output. Fail operations are left out: they definitely
// did not happen. Nemesis events are skipped. The events must form a
// consistent history (as the Reader guarantees); an error says why not.
func Operations(events []Event) ([]porcupine.Operation, error) {
	ops, _, err := operations(events)
	return ops, err
}

func operations(events []Event) ([]porcupine.Operation, map[string]*Counts, error) {
	v := newValidator()
	var ops []porcupine.Operation
	var failed []bool         // parallel to ops: dropped at the end
	slot := make(map[int]int) // process -> its pending operation in ops
	counts := make(map[string]*Counts)
	for i, e := range events {
		e, err := v.add(e)
		if err != nil {
			return nil, nil, fmt.Errorf("event %d: %w", i, err)
		}
		if e.Nemesis {
			continue
		}
		if counts[e.Key] == nil {
			counts[e.Key] = &Counts{}
		}
		if e.Type == Invoke {
			slot[e.Process] = len(ops)
			ops = append(ops, invocation(e))
			failed = append(failed, false)
			continue
		}
		j := slot[e.Process] // the validator guarantees it is there
		delete(slot, e.Process)
		meta := ops[j].Metadata.(opMeta)
		meta.complete, meta.outcome = e.Index, e.Type
		ops[j].Metadata = meta
		switch e.Type {
		case OK:
			ops[j].Return = e.Time
			ops[j].Output = okOutput(e)
			counts[e.Key].OK++
		case Fail:
			failed[j] = true
			counts[e.Key].Fail++
		case Info:
			counts[e.Key].Info++
		}
	}
	if err := v.end(); err != nil {
		return nil, nil, err
	}
	for _, j := range slot { // never completed: info by another name
		in := ops[j].Input.(Input)
		counts[in.Key].Info++
	}
	kept := ops[:0]
	for j, op := range ops {
		if !failed[j] {
			kept = append(kept, op)
		}
	}
	return kept, counts, nil
}

// invocation is the operation as it stands at its invocation: unknown
// outcome until a completion says otherwise.
func invocation(e Event) porcupine.Operation {
	in := Input{F: e.F, Key: e.Key}
	switch e.F {
	case Write:
		in.Value, _ = e.Int() // validated
	case CAS:
		in.Value, in.To, _ = e.Pair()
	}
	return porcupine.Operation{
		ClientId: e.Process,
		Input:    in,
		Call:     e.Time,
		Output:   Output{},
		Return:   unknownReturn,
		Metadata: opMeta{process: e.Process, invoke: e.Index, outcome: Invoke},
	}
}

func okOutput(e Event) Output {
	out := Output{Known: true}
	if e.F == Read {
		out.Value, out.Set, _ = e.NullableInt() // validated
	}
	return out
}
