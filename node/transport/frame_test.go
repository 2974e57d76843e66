package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

func TestReadFrame(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 3*readChunk+5) // exercises the growing read
	var stream []byte
	for _, p := range [][]byte{[]byte("hello"), {}, big} {
		stream = append(stream, rawFrame(p)...)
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	for _, want := range [][]byte{[]byte("hello"), {}, big} {
		got, err := ReadFrame(r, len(big))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	}
	if _, err := ReadFrame(r, 100); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}

	frame := rawFrame([]byte("payload"))
	for name, tc := range map[string]struct {
		data  []byte
		limit int
		want  error
	}{
		"too large":        {frame, 6, ErrFrameTooLarge},
		"huge length":      {[]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, 1 << 30, ErrFrameTooLarge},
		"crc":              {append(frame[:len(frame)-1:len(frame)-1], 'X'), 100, ErrChecksum},
		"truncated header": {frame[:5], 100, io.ErrUnexpectedEOF},
		"truncated body":   {frame[:10], 100, io.ErrUnexpectedEOF},
		"body missing":     {frame[:8], 100, io.ErrUnexpectedEOF},
		"big and truncated": {append(binary.LittleEndian.AppendUint32(nil, 4*readChunk), make([]byte, 4+readChunk+1)...),
			8 * readChunk, io.ErrUnexpectedEOF},
	} {
		_, err := ReadFrame(bufio.NewReader(bytes.NewReader(tc.data)), tc.limit)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	long := raft.NodeID(bytes.Repeat([]byte("z"), maxIDLen))
	b := handshake(long, "n1")
	if len(b) != frameHeaderSize+maxHandshake-2*maxIDLen+1 {
		t.Fatalf("handshake length %d", len(b))
	}
	p, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), maxHandshake)
	must(t, err)
	from, to, client, err := parseHandshake(p)
	if err != nil || from != long || to != "n1" || client != "" {
		t.Fatalf("parsed %q %q %q %v", from, to, client, err)
	}
	b = appendHandshake(nil, "n1", "n2", "10.0.0.1:8001")
	p2, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), maxHandshake)
	must(t, err)
	if from, to, client, err := parseHandshake(p2); err != nil || from != "n1" || to != "n2" || client != "10.0.0.1:8001" {
		t.Fatalf("with a client address: parsed %q %q %q %v", from, to, client, err)
	}
	for _, bad := range [][]byte{nil, []byte("RAFTCHK1"), p[:len(p)-1], append(p, 0), []byte("RAFTCHK1\x01\x05ab"),
		p2[:len(p2)-1], append(p2, 'x')} {
		if _, _, _, err := parseHandshake(bad); !errors.Is(err, ErrHandshake) {
			t.Errorf("parseHandshake(%q): %v", bad, err)
		}
	}
}

func sampleMessages() []raft.Message {
	return []raft.Message{
		app("n1", "n2", 9, "data"),
		{Type: raft.MsgVoteResp, From: "a", To: "b", Term: 1, Reject: true, RejectHint: 4},
		{Type: raft.MsgSnap, From: "n1", To: "n3", Snapshot: &raft.Snapshot{
			Meta: raft.SnapshotMeta{Index: 5, Term: 2, Conf: raft.ConfState{Voters: []raft.NodeID{"n1", "n3"}}}, Data: []byte("img")}},
		{Type: raft.MsgReadIndex, From: "n2", To: "n1", Context: []byte("ctx")},
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(handshake("n2", "n1"))
	for _, m := range sampleMessages() {
		f.Add(msgFrame(m))
	}
	f.Add(cat(handshake("n1", "n2"), msgFrame(sampleMessages()[0]), []byte{1, 2, 3}))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		for {
			p, err := readFrame(r, 4096, buf)
			if err != nil {
				return
			}
			buf = p
			if len(p) > 4096 {
				t.Fatalf("payload of %d bytes above the limit", len(p))
			}
			// Neither decoder may panic on a well-framed payload.
			_, _, _, _ = parseHandshake(p)
			_, _ = DecodeMessage(p)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(raft.MarshalMessage(nil, m))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := DecodeMessage(p)
		if err != nil {
			if !errors.Is(err, raft.ErrCorrupt) {
				t.Fatalf("error %v does not wrap raft.ErrCorrupt", err)
			}
			return
		}
		m2, err := DecodeMessage(raft.MarshalMessage(nil, m))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, m, m2)
		}
	})
}
