package checker

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const header = `{"format":"raftcheck-history","version":1}` + "\n"

// The example from ARCHITECTURE.md, byte for byte.
const example = header +
	`{"index":0,"time":1200345,"process":3,"type":"invoke","f":"cas","key":"k2","value":[1,4]}` + "\n" +
	`{"index":1,"time":1900211,"process":3,"type":"ok","f":"cas","key":"k2","value":[1,4]}` + "\n" +
	`{"index":2,"time":2000000,"process":4,"type":"invoke","f":"read","key":"k2","value":null}` + "\n" +
	`{"index":3,"time":2500000,"process":4,"type":"ok","f":"read","key":"k2","value":4}` + "\n" +
	`{"index":4,"time":2600000,"process":"nemesis","type":"invoke","f":"partition","value":[["n1","n2"],["n3","n4","n5"]]}` + "\n" +
	`{"index":5,"time":2700000,"process":"nemesis","type":"info","f":"partition","value":"cut n1,n2 | n3,n4,n5 <majority>"}` + "\n"

func TestReadExample(t *testing.T) {
	events, err := ReadAll(strings.NewReader(example))
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Index: 0, Time: 1200345, Process: 3, Type: Invoke, F: CAS, Key: "k2", Value: PairValue(1, 4)},
		{Index: 1, Time: 1900211, Process: 3, Type: OK, F: CAS, Key: "k2", Value: PairValue(1, 4)},
		{Index: 2, Time: 2000000, Process: 4, Type: Invoke, F: Read, Key: "k2"},
		{Index: 3, Time: 2500000, Process: 4, Type: OK, F: Read, Key: "k2", Value: IntValue(4)},
		{Index: 4, Time: 2600000, Nemesis: true, Type: Invoke, F: "partition", Value: []byte(`[["n1","n2"],["n3","n4","n5"]]`)},
		{Index: 5, Time: 2700000, Nemesis: true, Type: Info, F: "partition", Value: StringValue("cut n1,n2 | n3,n4,n5 <majority>")},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("read\n%+v\nwant\n%+v", events, want)
	}
	// Writing what was read gives the same bytes back.
	if got := encode(t, events); string(got) != example {
		t.Fatalf("round trip:\n%s\nwant\n%s", got, example)
	}
}

func TestRoundTrip(t *testing.T) {
	h := &hist{}
	h.write(0, "a", 1, OK).
		nemesis(Invoke, "kill", StringValue("n1")).
		readNull(1, "b").
		cas(2, "a", 1, -5, OK).
		cas(2, "a", 7, 8, Fail).
		nemesis(Info, "kill", nil).
		invoke(3, Write, "b", IntValue(9)).
		done(3, Info, Write, "b", IntValue(9)).
		invoke(4, Read, "a", nil).
		done(4, Info, Read, "a", nil).
		read(5, "a", -5).
		invoke(6, Write, "c", IntValue(1)) // pending at the end: legal
	first := encode(t, h.events)
	events, err := ReadAll(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(events, h.events) {
		t.Fatalf("read back\n%+v\nwant\n%+v", events, h.events)
	}
	if second := encode(t, events); !bytes.Equal(first, second) {
		t.Fatalf("not byte-identical:\n%s\n%s", first, second)
	}
}

func TestReadFileVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte(`{"format":"raftcheck-history","version":2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
	const want = "history.jsonl line 1: format version 2 not supported by this raftcheck (knows 1)"
	if !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("err = %q, want it to end with %q", err, want)
	}
}

func TestReaderErrors(t *testing.T) {
	inv := func(idx, p int, f, key, v string) string {
		return `{"index":` + itoa(idx) + `,"time":` + itoa(10*idx) + `,"process":` + itoa(p) + `,"type":"invoke","f":"` + f + `","key":"` + key + `","value":` + v + "}\n"
	}
	done := func(idx, p int, typ, f, key, v string) string {
		return `{"index":` + itoa(idx) + `,"time":` + itoa(10*idx) + `,"process":` + itoa(p) + `,"type":"` + typ + `","f":"` + f + `","key":"` + key + `","value":` + v + "}\n"
	}
	nem := func(idx int, typ, f string) string {
		return `{"index":` + itoa(idx) + `,"time":` + itoa(10*idx) + `,"process":"nemesis","type":"` + typ + `","f":"` + f + `","value":null}` + "\n"
	}
	tests := []struct {
		name, file string
		line       int
		msg        string
	}{
		{"empty file", "", 1, "missing the header"},
		{"no header", inv(0, 1, "write", "a", "1"), 1, "missing header"},
		{"wrong format", `{"format":"jepsen","version":1}` + "\n", 1, `format "jepsen"`},
		{"no version", `{"format":"raftcheck-history"}` + "\n", 1, "without a version"},
		{"malformed", header + "{not json\n", 2, "malformed"},
		{"empty line", header + inv(0, 1, "write", "a", "1") + "\n", 3, "empty line"},
		{"unknown field", header + `{"index":0,"time":0,"process":1,"type":"invoke","f":"read","key":"a","value":null,"extra":1}` + "\n", 2, "extra"},
		{"missing field", header + `{"index":0,"process":1,"type":"invoke","f":"read","key":"a","value":null}` + "\n", 2, `"time"`},
		{"bad process", header + `{"index":0,"time":0,"process":"client","type":"invoke","f":"read","key":"a","value":null}` + "\n", 2, "process"},
		{"negative process", header + inv(0, -1, "read", "a", "null"), 2, "process"},
		{"bad type", header + done(0, 1, "maybe", "read", "a", "null"), 2, "type"},
		{"wrong index", header + inv(1, 1, "read", "a", "null"), 2, "index 1, want 0"},
		{"unknown f", header + inv(0, 1, "append", "a", "1"), 2, "unknown f"},
		{"no key", header + inv(0, 1, "read", "", "null"), 2, "without a key"},
		{"read invoke value", header + inv(0, 1, "read", "a", "3"), 2, "want null"},
		{"float value", header + inv(0, 1, "write", "a", "1.5"), 2, "want an integer"},
		{"bad cas value", header + inv(0, 1, "cas", "a", "[1,2,3]"), 2, "[from,to]"},
		{"completion without invoke", header + done(0, 1, "ok", "write", "a", "1"), 2, "without a pending invocation"},
		{"two completions", header + inv(0, 1, "write", "a", "1") + done(1, 1, "ok", "write", "a", "1") + done(2, 1, "ok", "write", "a", "1"), 4, "already completed at index 1"},
		{"invoke while pending", header + inv(0, 1, "write", "a", "1") + inv(1, 1, "read", "a", "null"), 3, "is pending"},
		{"invoke after info", header + inv(0, 1, "write", "a", "1") + done(1, 1, "info", "write", "a", "1") + inv(2, 1, "read", "a", "null"), 4, "after its info at index 1"},
		{"f mismatch", header + inv(0, 1, "write", "a", "1") + done(1, 1, "ok", "cas", "a", "[1,2]"), 3, `f "cas", invoked "write"`},
		{"key mismatch", header + inv(0, 1, "write", "a", "1") + done(1, 1, "ok", "write", "b", "1"), 3, `key "b", invoked "a"`},
		{"value mismatch", header + inv(0, 1, "write", "a", "1") + done(1, 1, "ok", "write", "a", "2"), 3, "value 2, invoked 1"},
		{"nemesis info without invoke", header + nem(0, "info", "heal-all"), 2, "heal-all without an invocation"},
		{"nemesis invoke while pending", header + nem(0, "invoke", "kill") + nem(1, "invoke", "heal"), 3, "while its kill invoked at index 0 is pending"},
		{"nemesis info of another f", header + nem(0, "invoke", "kill") + nem(1, "info", "heal"), 3, "answers the invocation of kill"},
		{"nemesis never completed", header + nem(0, "invoke", "kill") + inv(1, 1, "read", "a", "null"), 3, "kill invoked at index 0 never completed"},
		{"nemesis ok", header + `{"index":0,"time":0,"process":"nemesis","type":"ok","f":"kill","value":null}` + "\n", 2, "want invoke or info"},
		{"completion before invoke", header + inv(0, 1, "write", "a", "1") + `{"index":1,"time":-5,"process":1,"type":"ok","f":"write","key":"a","value":1}` + "\n", 3, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadAll(strings.NewReader(tt.file))
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LineError", err)
			}
			if le.Line != tt.line || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %q (line %d), want line %d and %q", err, le.Line, tt.line, tt.msg)
			}
			if !strings.Contains(err.Error(), "history line "+itoa(tt.line)+":") {
				t.Fatalf("err = %q does not name the line", err)
			}
		})
	}
}

func TestReaderCompletionBeforeInvoke(t *testing.T) {
	file := header +
		`{"index":0,"time":100,"process":1,"type":"invoke","f":"write","key":"a","value":1}` + "\n" +
		`{"index":1,"time":50,"process":1,"type":"ok","f":"write","key":"a","value":1}` + "\n"
	_, err := ReadAll(strings.NewReader(file))
	if err == nil || !strings.Contains(err.Error(), "line 3: process 1: ok does not match") {
		t.Fatalf("err = %v", err)
	}
}

func TestReaderStreamsAndStops(t *testing.T) {
	file := header +
		`{"index":0,"time":1,"process":1,"type":"invoke","f":"write","key":"a","value":1}` + "\n" +
		"garbage\n"
	r := NewReader(strings.NewReader(file))
	if e, err := r.Next(); err != nil || e.F != Write {
		t.Fatalf("first event: %+v, %v", e, err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors not sticky: %v then %v", err1, err2)
	}
	r = NewReader(strings.NewReader(header))
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("err = %v, want io.EOF", err)
		}
	}
}

func TestWriterRefusesAndStaysUsable(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	bad := Event{Index: 0, Process: 1, Type: OK, F: Write, Key: "a", Value: IntValue(1)}
	if err := w.Write(bad); err == nil || !strings.Contains(err.Error(), "without a pending invocation") {
		t.Fatalf("err = %v", err)
	}
	if err := w.Write(Event{Index: 0, Process: 1, Type: Invoke, F: Write, Key: "a", Value: []byte(" 01")}); err == nil {
		t.Fatal("a non-JSON value was written")
	}
	good := Event{Index: 0, Process: 1, Type: Invoke, F: Write, Key: "a", Value: []byte(" 7 ")}
	if err := w.Write(good); err != nil {
		t.Fatal(err)
	}
	want := header + `{"index":0,"time":0,"process":1,"type":"invoke","f":"write","key":"a","value":7}` + "\n"
	if buf.String() != want {
		t.Fatalf("wrote\n%s\nwant\n%s", buf.String(), want)
	}
}

func itoa(i int) string {
	b, _ := IntValue(int64(i)).MarshalJSON()
	return string(b)
}
