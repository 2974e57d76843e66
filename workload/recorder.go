package workload

import (
	"encoding/json"
	"sync"

	"github.com/raftcheck/raftcheck/checker"
)

// Recorder collects a history. Its clock gives nanoseconds since the run
// started: the monotonic clock for real runs, virtual time in the
// simulator. Safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	clock  func() int64
	events []checker.Event
}

// NewRecorder returns a recorder reading time from clock.
func NewRecorder(clock func() int64) *Recorder { return &Recorder{clock: clock} }

func (r *Recorder) add(e checker.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Index = len(r.events)
	e.Time = r.clock()
	r.events = append(r.events, e)
	return e.Index
}

// Invoke records that process calls op. Call it before the request is
// sent, so the operation's interval covers everything it could affect.
func (r *Recorder) Invoke(process int, op Op) {
	e := checker.Event{Process: process, Type: checker.Invoke, F: op.F, Key: op.Key}
	switch op.F {
	case checker.Write:
		e.Value = checker.IntValue(op.Value)
	case checker.CAS:
		e.Value = checker.PairValue(op.From, op.To)
	}
	r.add(e)
}

// Complete records the outcome of process's pending op.
func (r *Recorder) Complete(process int, op Op, res Result) {
	e := checker.Event{Process: process, Type: checker.Type(res.Outcome), F: op.F, Key: op.Key}
	switch op.F {
	case checker.Read:
		if res.Outcome == OK && res.Present {
			e.Value = checker.IntValue(res.Value)
		}
	case checker.Write:
		e.Value = checker.IntValue(op.Value)
	case checker.CAS:
		e.Value = checker.PairValue(op.From, op.To)
	}
	r.add(e)
}

// Nemesis records a nemesis event: typ is invoke when a fault action
// Nemesis records a nemesis event and returns its index in the history.
func (r *Recorder) Nemesis(typ checker.Type, f string, value json.RawMessage) int {
	return r.add(checker.Event{Nemesis: true, Type: typ, F: f, Value: value})
}

// Now reads the recorder's clock.
func (r *Recorder) Now() int64 { return r.clock() }

// Events returns the history so far.
func (r *Recorder) Events() []checker.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]checker.Event(nil), r.events...)
}

// Counts tallies completions by outcome.
func (r *Recorder) Counts() map[Outcome]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[Outcome]int{}
	for _, e := range r.events {
		if !e.Nemesis && e.Type != checker.Invoke {
			out[Outcome(e.Type)]++
		}
	}
	return out
}
