package checker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

// FuzzReader feeds the reader arbitrary bytes. It must never panic; what it
// accepts must survive a write/read round trip unchanged and be checkable.
func FuzzReader(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(header))
	f.Add([]byte(""))
	f.Add([]byte(header + `{"index":0,"time":5,"process":1,"type":"invoke","f":"write","key":"a","value":-0}` + "\n" +
		`{"index":1,"time":9,"process":1,"type":"info","f":"write","key":"a","value":0}` + "\n"))
	f.Add(encode(f, pathological(3).events))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ReadAll(bytes.NewReader(data))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		written := encode(t, events)
		back, err := ReadAll(bytes.NewReader(written))
		if err != nil {
			t.Fatalf("written history unreadable: %v\n%s", err, written)
		}
		if len(events) > 0 && !reflect.DeepEqual(back, events) {
			t.Fatalf("round trip changed events:\n%+v\n%+v", events, back)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		res, err := Check(ctx, events)
		if err != nil {
			t.Fatalf("check refused a history the reader accepted: %v", err)
		}
		if err := WriteHTML(io.Discard, res, events, HTMLOptions{Timeout: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	})
}
