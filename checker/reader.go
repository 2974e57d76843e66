package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format and Version are what the header line names.
const (
	Format  = "raftcheck-history"
	Version = 1
)

// maxLine bounds one line, so that a corrupt file cannot make the reader
// buffer it whole.
const maxLine = 16 << 20

// ErrVersion is wrapped by the error for a history written by a format
// version this package does not know.
var ErrVersion = errors.New("format version not supported")

// LineError is an error about one line of a history.
type LineError struct {
	Name string // the file, or "history" when reading an io.Reader
	Line int    // 1-based; the header is line 1
	Err  error
}

// Error reads "NAME line N: what is wrong".
func (e *LineError) Error() string {
	return fmt.Sprintf("%s line %d: %s", e.Name, e.Line, e.Err)
}

// Unwrap returns the error about the line's content.
func (e *LineError) Unwrap() error { return e.Err }

// versionError keeps the message the user needs while matching ErrVersion.
type versionError struct{ got int }

func (e versionError) Error() string {
	return fmt.Sprintf("format version %d not supported by this raftcheck (knows %d)", e.got, Version)
}

func (e versionError) Unwrap() error { return ErrVersion }

// Reader streams the events of a history, checking each against the ones
// before it. It is not safe for concurrent use.
type Reader struct {
	name    string
	scanner *bufio.Scanner
	line    int
	valid   *validator
	err     error // sticky: after an error every Next returns it
}

// NewReader reads a history from r; errors name it "history".
func NewReader(r io.Reader) *Reader {
	return newNamedReader(r, "history")
}

func newNamedReader(r io.Reader, name string) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &Reader{name: name, scanner: s, valid: newValidator()}
}

// Next returns the next event, or io.EOF after the last one. Invocations
// still pending at the end are legal: they count as info. Any other error is
// a *LineError naming the line.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	if r.line == 0 {
		if err := r.header(); err != nil {
			r.err = err
			return Event{}, err
		}
	}
	e, err := r.event()
	if err != nil {
		r.err = err
	}
	return e, err
}

func (r *Reader) scan() ([]byte, error) {
	if !r.scanner.Scan() {
		if err := r.scanner.Err(); err != nil {
			return nil, r.fail(r.line+1, fmt.Errorf("read: %w", err))
		}
		return nil, io.EOF
	}
	r.line++
	return r.scanner.Bytes(), nil
}

func (r *Reader) fail(line int, err error) error {
	return &LineError{Name: r.name, Line: line, Err: err}
}

func (r *Reader) header() error {
	line, err := r.scan()
	if err == io.EOF {
		return r.fail(1, errors.New("empty file: missing the header line"))
	}
	if err != nil {
		return err
	}
	var h struct {
		Format  *string `json:"format"`
		Version *int    `json:"version"`
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format == nil {
		return r.fail(1, fmt.Errorf(`missing header: want {"format":%q,"version":%d}`, Format, Version))
	}
	if *h.Format != Format {
		return r.fail(1, fmt.Errorf("format %q: want %q", *h.Format, Format))
	}
	if h.Version == nil {
		return r.fail(1, errors.New("header without a version"))
	}
	if *h.Version != Version {
		return r.fail(1, versionError{got: *h.Version})
	}
	return nil
}

func (r *Reader) event() (Event, error) {
	line, err := r.scan()
	if err == io.EOF {
		if verr := r.valid.end(); verr != nil {
			return Event{}, r.fail(r.line, verr)
		}
	}
	if err != nil {
		return Event{}, err
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return Event{}, r.fail(r.line, errors.New("empty line"))
	}
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, r.fail(r.line, fmt.Errorf("malformed event: %w", err))
	}
	e, err = r.valid.add(e)
	if err != nil {
		return Event{}, r.fail(r.line, err)
	}
	return e, nil
}

// ReadAll reads every event of a history.
func ReadAll(r io.Reader) ([]Event, error) {
	return readAll(NewReader(r))
}

// ReadFile reads a history file; errors name the path.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer f.Close()
	return readAll(newNamedReader(f, path))
}

func readAll(r *Reader) ([]Event, error) {
	var events []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
}
