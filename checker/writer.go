package checker

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// Writer writes a history. It is not safe for concurrent use: a recorder
// shared by client goroutines must serialise its calls (one goroutine, or a
// mutex), which also puts the events in the order their indices say.
//
// Each event goes to the underlying writer in one Write call, unbuffered, so
// a harness that dies mid-run leaves every recorded line on disk.
type Writer struct {
	w     io.Writer
	valid *validator
	err   error // sticky: a line after a hole would be misread
}

// NewWriter writes the header line to w and returns a Writer for the events.
func NewWriter(w io.Writer) (*Writer, error) {
	header := `{"format":"` + Format + `","version":` + strconv.Itoa(Version) + "}\n"
	if _, err := io.WriteString(w, header); err != nil {
		return nil, fmt.Errorf("write history header: %w", err)
	}
	return &Writer{w: w, valid: newValidator()}, nil
}

// Write appends one event. It assigns nothing: the caller numbers events from
// 0 and stamps their times. It refuses an event the Reader would refuse
// (wrong index, completion without invocation, bad value, ...), so that a
// written history can always be read back; values are written in canonical
// form. A refused event leaves the file intact and the Writer usable; after
// a failed write to the underlying writer, every later Write fails.
func (w *Writer) Write(e Event) error {
	if w.err != nil {
		return w.err
	}
	e, err := w.valid.add(e)
	if err != nil {
		// Not sticky: the bad event was not written, the file is intact.
		return fmt.Errorf("history event %d: %w", e.Index, err)
	}
	line, err := marshalEvent(e)
	if err != nil {
		w.err = err
		return err
	}
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		w.err = fmt.Errorf("write history event %d: %w", e.Index, err)
		return w.err
	}
	return nil
}

// Encode returns events as a history file's bytes, header included: what
// a replay compares byte for byte. It checks them as the Writer does.
func Encode(events []Event) ([]byte, error) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
