package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// buildLog saves entries 1..n one per Save and returns the model.
func buildLog(t *testing.T, dir string, opts Options, n uint64) model {
	t.Helper()
	s, _ := openT(t, dir, opts)
	var m model
	for i := uint64(1); i <= n; i++ {
		hs := raft.HardState{Term: 1, Vote: "n1", Commit: i - 1}
		if err := s.Save(hs, ents(i, i, 1)); err != nil {
			t.Fatal(err)
		}
		m.append(hs, ents(i, i, 1))
	}
	closeT(t, s)
	return m
}

func clone(m model) model {
	m.log = slices.Clone(m.log)
	return m
}

// TestTornTail cuts the last batch (a hard state record and an entry
// record) at every byte offset and checks that Open recovers exactly the
// records before the cut record, cuts the file back, logs the file and
// offset, and that the log can be appended to and recovered again.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	before := buildLog(t, dir, Options{}, 10)
	seg := lastSegment(t, dir)
	start := fileSize(t, seg)
	lastHS := raft.HardState{Term: 2, Vote: "n3", Commit: 10}
	s, _ := openT(t, dir, Options{})
	if err := s.Save(lastHS, ents(11, 11, 2)); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	end := fileSize(t, seg)
	hsEnd := start + int64(len(appendRecord(nil, recHardState, raft.MarshalHardState(nil, lastHS))))
	if end <= hsEnd {
		t.Fatal("last batch has no entry record")
	}
	for cut := start; cut < end; cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			dseg := filepath.Join(d, walDir, filepath.Base(seg))
			if err := os.Truncate(dseg, cut); err != nil {
				t.Fatal(err)
			}
			want, good := clone(before), start
			if cut >= hsEnd {
				want.hs, good = lastHS, hsEnd
			}
			logger, logs := logBuffer()
			s, st := openT(t, d, Options{Logger: logger})
			checkState(t, st, want)
			torn := cut != start && cut != hsEnd
			if got := strings.Contains(logs.String(), "torn"); got != torn {
				t.Errorf("torn warning logged = %v, want %v; log: %s", got, torn, logs)
			}
			if torn && !strings.Contains(logs.String(), fmt.Sprintf("offset=%d", good)) || torn && !strings.Contains(logs.String(), dseg) {
				t.Errorf("warning does not name %s and offset %d: %s", dseg, good, logs)
			}
			if got := fileSize(t, dseg); got != good {
				t.Errorf("segment is %d bytes after recovery, want %d", got, good)
			}
			// The recovered log takes new entries, including one replacing
			// the last recovered entry, and recovers them.
			es := ents(want.lastIndex(), want.lastIndex()+2, 3)
			hs := raft.HardState{Term: 3, Vote: "n2", Commit: want.lastIndex() - 1}
			if err := s.Save(hs, es); err != nil {
				t.Fatal(err)
			}
			want.append(hs, es)
			closeT(t, s)
			_, st = openT(t, d, Options{})
			checkState(t, st, want)
		})
	}
}

// TestTornTailBadCRC: a final record that is complete but fails its CRC
// (a torn write of the right length) is cut off.
func TestTornTailBadCRC(t *testing.T) {
	for _, where := range []string{"payload", "crc", "length"} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			m := buildLog(t, dir, Options{}, 5)
			seg := lastSegment(t, dir)
			offs := recordOffsets(t, seg)
			data, _ := os.ReadFile(seg)
			last := offs[len(offs)-1]
			switch where {
			case "payload":
				data[len(data)-1] ^= 0x40
			case "crc":
				data[last+5] ^= 1
			case "length":
				binary.LittleEndian.PutUint32(data[last:], 1<<20)
			}
			if err := os.WriteFile(seg, data, 0o640); err != nil {
				t.Fatal(err)
			}
			want := clone(m)
			want.log = want.log[:4] // the entry was the last record; its hard state survives
			want.hs.Commit = 4
			_, st := openT(t, dir, Options{})
			checkState(t, st, want)
		})
	}
}

// TestZeroTail: zeros after the last record (preallocation, or a size
// update that reached the disk before the data) are a torn tail.
func TestZeroTail(t *testing.T) {
	t.Run("appended", func(t *testing.T) {
		dir := t.TempDir()
		m := buildLog(t, dir, Options{}, 5)
		seg := lastSegment(t, dir)
		size := fileSize(t, seg)
		appendFile(t, seg, make([]byte, 4096))
		_, st := openT(t, dir, Options{})
		checkState(t, st, m)
		if got := fileSize(t, seg); got != size {
			t.Errorf("segment is %d bytes, want %d", got, size)
		}
	})
	t.Run("overwritten", func(t *testing.T) {
		dir := t.TempDir()
		m := buildLog(t, dir, Options{}, 5)
		seg := lastSegment(t, dir)
		offs := recordOffsets(t, seg)
		data, _ := os.ReadFile(seg)
		clear(data[offs[len(offs)-2]:]) // the last hard state and entry
		data = append(data, make([]byte, 100)...)
		if err := os.WriteFile(seg, data, 0o640); err != nil {
			t.Fatal(err)
		}
		want := clone(m)
		want.log = want.log[:4]
		want.hs.Commit = 3
		_, st := openT(t, dir, Options{})
		checkState(t, st, want)
	})
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt checks that err reports corruption naming path and offset.
func wantCorrupt(t *testing.T, err error, path string, off int) {
	t.Helper()
	if err == nil {
		t.Fatal("Open succeeded on a corrupt log")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("error does not wrap ErrCorrupt: %v", err)
	}
	for _, s := range []string{path, fmt.Sprintf("offset %d", off), "restore this node from a peer"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q: %v", s, err)
		}
	}
}

// TestMidLogCorruption damages an early record that valid records follow:
// Open must fail naming the file and the offset of that record.
func TestMidLogCorruption(t *testing.T) {
	damage := map[string]func(rec []byte){
		"payload byte": func(rec []byte) { rec[10] ^= 0x01 },
		"crc byte":     func(rec []byte) { rec[4] ^= 0x80 },
		"length":       func(rec []byte) { binary.LittleEndian.PutUint32(rec, 0x00ffffff) },
		"zeroed":       func(rec []byte) { clear(rec) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, Options{}, 10)
			seg := lastSegment(t, dir)
			offs := recordOffsets(t, seg)
			data, _ := os.ReadFile(seg)
			bad := offs[4] // the third entry: header, hs, e1, hs, e2, ...
			fn(data[bad:offs[5]])
			if err := os.WriteFile(seg, data, 0o640); err != nil {
				t.Fatal(err)
			}
			_, _, err := Open(dir, Options{})
			wantCorrupt(t, err, seg, bad)
		})
	}
}

// TestDamagedEarlierSegment: only the last segment may have a torn tail;
// the same damage in an earlier segment is corruption.
func TestDamagedEarlierSegment(t *testing.T) {
	damage := map[string]func(t *testing.T, path string) int{
		"truncated": func(t *testing.T, path string) int {
			offs := recordOffsets(t, path)
			os.Truncate(path, fileSize(t, path)-1)
			return offs[len(offs)-1]
		},
		"zero tail": func(t *testing.T, path string) int {
			size := fileSize(t, path)
			appendFile(t, path, make([]byte, 64))
			return int(size)
		},
		"bad crc at tail": func(t *testing.T, path string) int {
			offs := recordOffsets(t, path)
			data, _ := os.ReadFile(path)
			data[len(data)-1] ^= 1
			os.WriteFile(path, data, 0o640)
			return offs[len(offs)-1]
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, Options{SegmentSize: 150}, 20)
			files := segmentFiles(t, dir)
			if len(files) < 3 {
				t.Fatalf("%d segments", len(files))
			}
			off := fn(t, files[1])
			_, _, err := Open(dir, Options{SegmentSize: 150})
			wantCorrupt(t, err, files[1], off)
		})
	}
}

// TestValidCRCBadContent: a CRC-valid record that does not decode cannot
// be a torn write, even at the very end.
func TestValidCRCBadContent(t *testing.T) {
	dir := t.TempDir()
	buildLog(t, dir, Options{}, 3)
	seg := lastSegment(t, dir)
	size := fileSize(t, seg)
	appendFile(t, seg, appendRecord(nil, recEntry, []byte{0xff}))
	_, _, err := Open(dir, Options{})
	wantCorrupt(t, err, seg, int(size))
}

// writeSegment writes a segment file holding a header and recs.
func writeSegment(t *testing.T, dir string, seq, first uint64, recs ...[]byte) string {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, walDir), 0o750)
	b := appendRecord(nil, recSegmentHeader, marshalSegmentHeader(segmentHeader{version: segmentFormat, seq: seq, first: first}))
	for _, r := range recs {
		b = append(b, r...)
	}
	path := filepath.Join(dir, walDir, segmentName(seq, first))
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func entryRec(e raft.Entry) []byte { return appendRecord(nil, recEntry, raft.MarshalEntry(nil, e)) }

func TestGap(t *testing.T) {
	t.Run("inside the log", func(t *testing.T) {
		dir := t.TempDir()
		e := ents(1, 4, 1)
		path := writeSegment(t, dir, 1, 1, entryRec(e[0]), entryRec(e[1]), entryRec(e[3]))
		_, _, err := Open(dir, Options{})
		wantCorrupt(t, err, path, recordOffsets(t, path)[3])
	})
	t.Run("no snapshot before the first entry", func(t *testing.T) {
		dir := t.TempDir()
		e := ents(3, 4, 1)
		path := writeSegment(t, dir, 1, 3, entryRec(e[0]), entryRec(e[1]))
		_, _, err := Open(dir, Options{})
		wantCorrupt(t, err, path, segmentHeaderSize)
	})
	t.Run("missing segment", func(t *testing.T) {
		dir := t.TempDir()
		buildLog(t, dir, Options{SegmentSize: 150}, 20)
		files := segmentFiles(t, dir)
		os.Remove(files[1])
		_, _, err := Open(dir, Options{})
		wantCorrupt(t, err, files[2], 0)
	})
	t.Run("header does not match name", func(t *testing.T) {
		dir := t.TempDir()
		path := writeSegment(t, dir, 1, 1)
		os.Rename(path, filepath.Join(dir, walDir, segmentName(1, 5)))
		_, _, err := Open(dir, Options{})
		wantCorrupt(t, err, segmentName(1, 5), 0)
	})
}

// TestTornSegmentHeader: a crash right after a new segment was created
// leaves it empty or with a partial header; Open repairs it.
func TestTornSegmentHeader(t *testing.T) {
	for _, n := range []int{0, 5, segmentHeaderSize - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			m := buildLog(t, dir, Options{}, 5)
			hdr := appendRecord(nil, recSegmentHeader, marshalSegmentHeader(segmentHeader{version: segmentFormat, seq: 2, first: 6}))
			path := filepath.Join(dir, walDir, segmentName(2, 6))
			if err := os.WriteFile(path, hdr[:n], 0o640); err != nil {
				t.Fatal(err)
			}
			s, st := openT(t, dir, Options{})
			checkState(t, st, m)
			if got := fileSize(t, path); got != int64(len(hdr)) {
				t.Errorf("repaired segment is %d bytes, want the %d byte header", got, len(hdr))
			}
			if err := s.Save(raft.HardState{Term: 2}, ents(6, 7, 2)); err != nil {
				t.Fatal(err)
			}
			m.append(raft.HardState{Term: 2}, ents(6, 7, 2))
			closeT(t, s)
			_, st = openT(t, dir, Options{})
			checkState(t, st, m)
		})
	}
}

func TestNextValidRecord(t *testing.T) {
	rec := entryRec(ents(1, 1, 1)[0])
	garbage := bytes.Repeat([]byte{0xab}, 37)
	b := append(append(slices.Clone(garbage), rec...), make([]byte, 20)...)
	if got := nextValidRecord(b, 0); got != len(garbage) {
		t.Errorf("nextValidRecord = %d, want %d", got, len(garbage))
	}
	if got := nextValidRecord(b, len(garbage)); got != -1 {
		t.Errorf("nextValidRecord after the record = %d, want -1", got)
	}
}

func TestRecordOffsets(t *testing.T) {
	data := appendRecord(nil, recSegmentHeader, []byte("h"))
	data = appendRecord(data, recEntry, []byte("entry"))
	third := len(data)
	data = appendRecord(data, recHardState, []byte("hs"))
	offs, end := RecordOffsets(data)
	if !slices.Equal(offs, []int64{0, 10, int64(third)}) || end != int64(len(data)) {
		t.Errorf("offsets %v, end %d; want [0 10 %d], %d", offs, end, third, len(data))
	}
	offs, end = RecordOffsets(data[:len(data)-1])
	if len(offs) != 2 || end != int64(third) {
		t.Errorf("torn: offsets %v, end %d; want 2 records, end %d", offs, end, third)
	}
}
