package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// fuzzSeeds are record streams as a segment holds them after its header.
func fuzzSeeds() [][]byte {
	var log []byte
	log = appendRecord(log, recHardState, raft.MarshalHardState(nil, raft.HardState{Term: 2, Vote: "n1", Commit: 1}))
	for _, e := range ents(1, 3, 2) {
		log = append(log, entryRec(e)...)
	}
	log = append(log, entryRec(ents(2, 2, 3)[0])...)
	reset := appendRecord(nil, recLogReset, marshalLogReset(logReset{index: 9, term: 3}))
	return [][]byte{
		nil,
		log,
		log[:len(log)-3],
		append(bytes.Clone(log), make([]byte, 32)...),
		append(bytes.Clone(reset), entryRec(ents(10, 10, 3)[0])...),
		appendRecord(nil, recEntry, []byte{0xff}),
		{1, 0, 0, 0, 0, 0, 0, 0, 0},
	}
}

// FuzzDecodeRecord: decoding arbitrary bytes never panics, and whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, payload, n, err := decodeRecord(data)
		if err == nil {
			if n > len(data) || n < recordHeaderLen+1 {
				t.Fatalf("record size %d of %d bytes", n, len(data))
			}
			if got := appendRecord(nil, typ, payload); !bytes.Equal(got, data[:n]) {
				t.Fatalf("re-encoded record differs")
			}
		}
		scanSegment(data, func(_ int, typ byte, payload []byte) error {
			raft.UnmarshalEntry(payload)
			raft.UnmarshalHardState(payload)
			unmarshalLogReset(payload)
			unmarshalSegmentHeader(payload)
			return nil
		})
		if p := nextValidRecord(data, 0); p >= 0 {
			if _, _, _, err := decodeRecord(data[p:]); err != nil {
				t.Fatalf("nextValidRecord = %d, which does not decode: %v", p, err)
			}
		}
	})
}

// FuzzOpen: Open of a segment holding arbitrary bytes after its header
// never panics, and when it succeeds, recovery is stable: opening again
// gives the same state.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		hdr := appendRecord(nil, recSegmentHeader, marshalSegmentHeader(segmentHeader{version: segmentFormat, seq: 1, first: 1}))
		os.MkdirAll(filepath.Join(dir, walDir), 0o750)
		if err := os.WriteFile(filepath.Join(dir, walDir, segmentName(1, 1)), append(hdr, data...), 0o640); err != nil {
			t.Fatal(err)
		}
		s, st, err := Open(dir, Options{})
		if err != nil {
			return
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, st2, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("second Open failed after the first succeeded: %v", err)
		}
		s.Close()
		if !reflect.DeepEqual(st, st2) {
			t.Fatalf("recovered %+v, then %+v", st, st2)
		}
	})
}
