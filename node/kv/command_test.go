package kv

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var sampleCommands = []Command{
	{ID: RequestID{Node: "n1", N: 1}, Op: OpWrite, Key: "k", Value: 5},
	{ID: RequestID{Node: "n2", N: 1 << 63}, ClientID: "c7", Seq: 42, Op: OpCAS, Key: "k2", From: -1, To: 1 << 62},
	{Op: OpWrite, Key: "x", Value: -1 << 63},
	{ID: RequestID{Node: strings.Repeat("n", MaxNodeIDLen), N: ^uint64(0)}, ClientID: strings.Repeat("c", MaxClientIDLen),
		Seq: ^uint64(0), Op: OpCAS, Key: strings.Repeat("k", MaxKeyLen), From: -1 << 63, To: 1<<63 - 1},
}

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range sampleCommands {
		b := c.Marshal()
		if b[0] != commandVersion {
			t.Fatalf("first byte %d, want version %d", b[0], commandVersion)
		}
		got, err := UnmarshalCommand(b)
		if err != nil {
			t.Fatalf("UnmarshalCommand(Marshal(%+v)): %v", c, err)
		}
		if got != c {
			t.Fatalf("round trip: got %+v, want %+v", got, c)
		}
	}
	if n := len(sampleCommands[0].Marshal()); n > 12 {
		t.Errorf("a small write encodes to %d bytes; the format should be compact", n)
	}
}

func TestUnmarshalCommandRejects(t *testing.T) {
	valid := sampleCommands[1].Marshal()
	for i := range valid {
		if _, err := UnmarshalCommand(valid[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: err = %v, want ErrMalformed", i, err)
		}
	}
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	cases := map[string][]byte{
		"trailing byte":       append(bytes.Clone(valid), 0),
		"version 0":           with(func(b []byte) []byte { b[0] = 0; return b }),
		"version 2":           with(func(b []byte) []byte { b[0] = 2; return b }),
		"op 0":                with(func(b []byte) []byte { b[1] = 0; return b }),
		"op 3":                with(func(b []byte) []byte { b[1] = 3; return b }),
		"non-minimal varint":  {1, 1, 0x80, 0x00, 0, 0, 0, 1, 'k', 2},
		"varint overflow":     {1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 1, 'k', 2},
		"huge key length":     {1, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"key over limit":      Command{Op: OpWrite, Key: strings.Repeat("k", MaxKeyLen+1)}.Marshal(),
		"client over limit":   Command{Op: OpWrite, Key: "k", ClientID: strings.Repeat("c", MaxClientIDLen+1), Seq: 1}.Marshal(),
		"node over limit":     Command{Op: OpWrite, Key: "k", ID: RequestID{Node: strings.Repeat("n", MaxNodeIDLen+1)}}.Marshal(),
		"empty key":           Command{Op: OpWrite}.Marshal(),
		"client without seq":  Command{Op: OpWrite, Key: "k", ClientID: "c"}.Marshal(),
		"seq without client":  Command{Op: OpWrite, Key: "k", Seq: 1}.Marshal(),
		"oversized input":     make([]byte, maxCommandLen+1),
		"empty input":         nil,
		"length past the end": {1, 1, 5, 'n'},
	}
	for name, b := range cases {
		if c, err := UnmarshalCommand(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: UnmarshalCommand = %+v, %v; want ErrMalformed", name, c, err)
		}
	}
	// The minimal form of the non-minimal case above is accepted, so the
	// rejection is about the encoding, not the content.
	if _, err := UnmarshalCommand([]byte{1, 1, 0, 0, 0, 0, 1, 'k', 2}); err != nil {
		t.Fatalf("minimal encoding rejected: %v", err)
	}
}

func FuzzUnmarshalCommand(f *testing.F) {
	for _, c := range sampleCommands {
		f.Add(c.Marshal())
	}
	f.Add([]byte{})
	f.Add([]byte{1, 2, 0, 0, 0, 0, 1, 'k', 2, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := UnmarshalCommand(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("decoded an invalid command %+v: %v", c, err)
		}
		// The format is canonical: what decodes re-encodes to the input.
		if re := c.Marshal(); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, re)
		}
	})
}
