package checker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Type says which half of an operation an Event is.
type Type string

// The event types, Jepsen's vocabulary.
const (
	Invoke Type = "invoke" // the operation was called
	OK     Type = "ok"     // it completed and took effect
	Fail   Type = "fail"   // it completed and definitely did not take effect
	Info   Type = "info"   // its outcome is unknown (timeout, crash); for the nemesis, the end of a fault action
)

// The register operations, the F of client events.
const (
	Read  = "read"  // value: null at invoke; the value read at ok, null if never written
	Write = "write" // value: the value written
	CAS   = "cas"   // value: [from, to]
)

// nemesisName is how the nemesis's process is spelled in the file.
const nemesisName = "nemesis"

// Event is one line of a history.
//
// Value is the raw JSON value: use [IntValue], [PairValue] and [StringValue]
// to build one, and [Event.Int], [Event.NullableInt] and [Event.Pair] to read
// it. A nil Value is JSON null.
type Event struct {
	Index   int   // position in the history, from 0
	Time    int64 // nanoseconds since the run started, one monotonic clock
	Process int   // client process number (>= 0); meaningless when Nemesis
	Nemesis bool  // the nemesis's event: "process":"nemesis" in the file
	Type    Type
	F       string // read, write, cas; for the nemesis the fault (partition, heal, kill, ...)
	Key     string // the register; empty for the nemesis
	Value   json.RawMessage
}

// wireEvent fixes the field order of a line, so that equal events are
// byte-identical on disk.
type wireEvent struct {
	Index   int             `json:"index"`
	Time    int64           `json:"time"`
	Process json.RawMessage `json:"process"`
	Type    Type            `json:"type"`
	F       string          `json:"f"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value"`
}

// MarshalJSON writes the event with a fixed field order and compact value.
func (e Event) MarshalJSON() ([]byte, error) {
	return marshalEvent(e)
}

func marshalEvent(e Event) ([]byte, error) {
	w := wireEvent{Index: e.Index, Time: e.Time, Type: e.Type, F: e.F, Key: e.Key, Value: e.Value}
	if e.Nemesis {
		w.Process = json.RawMessage(`"` + nemesisName + `"`)
	} else {
		w.Process = json.RawMessage(strconv.Itoa(e.Process))
	}
	if len(w.Value) == 0 {
		w.Value = nil // encodes as null
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keep fault descriptions such as "a->b" readable in the file.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Index, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// readWire has pointers so that a missing field can be told from a zero one.
type readWire struct {
	Index   *int            `json:"index"`
	Time    *int64          `json:"time"`
	Process json.RawMessage `json:"process"`
	Type    *Type           `json:"type"`
	F       *string         `json:"f"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
}

// UnmarshalJSON decodes one line. It checks the syntax only (required fields,
// their JSON types, the process); consistency is the [Reader]'s job. A null
// value becomes a nil Value and any other value is compacted, so that reading
// and writing again gives the same bytes.
func (e *Event) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt field must not silently vanish
	var w readWire
	if err := dec.Decode(&w); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	switch {
	case w.Index == nil:
		return errors.New(`missing field "index"`)
	case w.Time == nil:
		return errors.New(`missing field "time"`)
	case w.Process == nil:
		return errors.New(`missing field "process"`)
	case w.Type == nil:
		return errors.New(`missing field "type"`)
	case w.F == nil:
		return errors.New(`missing field "f"`)
	}
	out := Event{Index: *w.Index, Time: *w.Time, Type: *w.Type, F: *w.F, Key: w.Key}
	if err := decodeProcess(w.Process, &out); err != nil {
		return err
	}
	if len(w.Value) > 0 && string(w.Value) != "null" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, w.Value); err != nil {
			return fmt.Errorf("value: %w", err)
		}
		out.Value = buf.Bytes()
	}
	*e = out
	return nil
}

func decodeProcess(raw json.RawMessage, e *Event) error {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("process: %w", err)
		}
		if s != nemesisName {
			return fmt.Errorf("process %q: want an integer or %q", s, nemesisName)
		}
		e.Nemesis = true
		return nil
	}
	p, err := strconv.Atoi(string(raw))
	if err != nil || p < 0 {
		return fmt.Errorf("process %s: want an integer >= 0 or %q", raw, nemesisName)
	}
	e.Process = p
	return nil
}

// IntValue is the JSON value of an integer, for a write or a read's result.
func IntValue(v int64) json.RawMessage {
	return json.RawMessage(strconv.FormatInt(v, 10))
}

// PairValue is the JSON value [from,to] of a cas.
func PairValue(from, to int64) json.RawMessage {
	return json.RawMessage("[" + strconv.FormatInt(from, 10) + "," + strconv.FormatInt(to, 10) + "]")
}

// StringValue is the JSON value of a string, e.g. a nemesis's description.
// Like the Writer, it leaves <, > and & as they are, for readable files.
func StringValue(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil { // cannot happen for a string
		return nil
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Int returns the value as an integer (a write, or a read that saw a value).
func (e Event) Int() (int64, error) {
	return parseInt(e.Value)
}

// NullableInt returns a read's value: set is false when it is null (at the
// invocation, or at ok when the register was never written).
func (e Event) NullableInt() (v int64, set bool, err error) {
	if isNull(e.Value) {
		return 0, false, nil
	}
	v, err = parseInt(e.Value)
	return v, err == nil, err
}

// Pair returns a cas's [from, to].
func (e Event) Pair() (from, to int64, err error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(e.Value, &pair); err != nil || len(pair) != 2 {
		return 0, 0, fmt.Errorf("value %s: want [from,to], two integers", show(e.Value))
	}
	if from, err = parseInt(pair[0]); err != nil {
		return 0, 0, err
	}
	if to, err = parseInt(pair[1]); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

func isNull(v json.RawMessage) bool {
	return len(v) == 0 || string(bytes.TrimSpace(v)) == "null"
}

// parseInt accepts only an integral JSON number that fits int64: 4.0 or 1e3
// in a history means a recorder bug, not a value.
func parseInt(v json.RawMessage) (int64, error) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
	// ParseInt alone would take "+1" and "01", which are not JSON.
	if err != nil || !json.Valid(v) {
		return 0, fmt.Errorf("value %s: want an integer", show(v))
	}
	return n, nil
}

// show renders a value for an error message, keeping it short.
func show(v json.RawMessage) string {
	if isNull(v) {
		return "null"
	}
	const limit = 60
	if len(v) > limit {
		return string(v[:limit]) + "..."
	}
	return string(v)
}
