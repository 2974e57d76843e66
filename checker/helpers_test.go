package checker

import (
	"encoding/json"
	"testing"
)

// hist builds a history in event order; each event is 10 ns after the last.
type hist struct {
	events []Event
}

func (h *hist) add(e Event) *hist {
	e.Index = len(h.events)
	e.Time = int64(10 * (len(h.events) + 1))
	h.events = append(h.events, e)
	return h
}

func (h *hist) invoke(p int, f, key string, v json.RawMessage) *hist {
	return h.add(Event{Process: p, Type: Invoke, F: f, Key: key, Value: v})
}

func (h *hist) done(p int, t Type, f, key string, v json.RawMessage) *hist {
	return h.add(Event{Process: p, Type: t, F: f, Key: key, Value: v})
}

func (h *hist) nemesis(t Type, f string, v json.RawMessage) *hist {
	return h.add(Event{Nemesis: true, Type: t, F: f, Value: v})
}

// Sequential operations: invoke and complete back to back.

func (h *hist) write(p int, key string, v int64, t Type) *hist {
	return h.invoke(p, Write, key, IntValue(v)).done(p, t, Write, key, IntValue(v))
}

func (h *hist) read(p int, key string, v int64) *hist {
	return h.invoke(p, Read, key, nil).done(p, OK, Read, key, IntValue(v))
}

func (h *hist) readNull(p int, key string) *hist {
	return h.invoke(p, Read, key, nil).done(p, OK, Read, key, nil)
}

func (h *hist) cas(p int, key string, from, to int64, t Type) *hist {
	return h.invoke(p, CAS, key, PairValue(from, to)).done(p, t, CAS, key, PairValue(from, to))
}

// encode writes events with a Writer, failing the test on any error.
func encode(t testing.TB, events []Event) []byte {
	t.Helper()
	b, err := Encode(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
