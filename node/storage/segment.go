package storage

import (
	"cmp"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Segment files live in <dir>/wal and are named
//
//	<seq>-<first>.log    e.g. 0000000000000001-0000000000000042.log
//
// both as 16 lower-case hex digits: seq numbers segments 1, 2, 3, ... with
// no gaps (compaction removes a prefix), first is the index the segment
// was started at (the next index to be written then; informational, a
// later truncation may write lower indices into it). Fixed width makes the
// lexical order the numeric one. Every segment starts with a header record
// repeating format version, seq and first.

const (
	walDir       = "wal"
	segmentExt   = ".log"
	hexWidth     = 16
	segmentNameN = hexWidth + 1 + hexWidth + len(segmentExt)
	// segmentHeaderSize is the size of the header record of a segment.
	segmentHeaderSize = recordHeaderLen + 1 + 17
)

// segment is what Storage remembers about one segment file. Entries are
// not kept in memory; only the highest index, which decides compaction.
type segment struct {
	seq   uint64
	first uint64
	path  string
	size  int64
	// maxIndex is the highest entry index ever written to the segment (0
	// if none). A segment whose maxIndex is covered by a snapshot holds
	// nothing the log still needs.
	maxIndex uint64
}

func segmentName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segmentExt)
}

func parseSegmentName(name string) (seq, first uint64, ok bool) {
	if len(name) != segmentNameN || !strings.HasSuffix(name, segmentExt) || name[hexWidth] != '-' {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(name[:hexWidth], 16, 64)
	first, err2 := strconv.ParseUint(name[hexWidth+1:2*hexWidth+1], 16, 64)
	if err1 != nil || err2 != nil || segmentName(seq, first) != name {
		return 0, 0, false
	}
	return seq, first, true
}

// listSegments returns the segments in dir ordered by seq. A missing
// sequence number means a lost file, which no replay can make up for.
func listSegments(dir string, log *slog.Logger) ([]*segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: list segments: %w", err)
	}
	var segs []*segment
	for _, de := range des {
		seq, first, ok := parseSegmentName(de.Name())
		if !ok || !de.Type().IsRegular() {
			log.Warn("storage: ignoring unexpected file in the WAL directory", "file", filepath.Join(dir, de.Name()))
			continue
		}
		segs = append(segs, &segment{seq: seq, first: first, path: filepath.Join(dir, de.Name())})
	}
	slices.SortFunc(segs, func(a, b *segment) int { return cmp.Compare(a.seq, b.seq) })
	for i := 1; i < len(segs); i++ {
		if segs[i].seq == segs[i-1].seq {
			return nil, corruptError(segs[i].path, 0, nil, "two segments with sequence number %d (also %s)", segs[i].seq, segs[i-1].path)
		}
		if segs[i].seq != segs[i-1].seq+1 {
			return nil, corruptError(segs[i].path, 0, nil, "segment sequence number %d follows %d: segments in between are missing", segs[i].seq, segs[i-1].seq)
		}
	}
	return segs, nil
}

// scanSegment decodes the records of data in order and hands each to fn
// with its offset. It stops at the first record that does not decode and
// returns its offset and why (end == len(data), why == nil when all
// decode); an error from fn is returned as err.
func scanSegment(data []byte, fn func(off int, typ byte, payload []byte) error) (end int, why error, err error) {
	off := 0
	for off < len(data) {
		typ, payload, n, derr := decodeRecord(data[off:])
		if derr != nil {
			return off, derr, nil
		}
		if err := fn(off, typ, payload); err != nil {
			return off, nil, err
		}
		off += n
	}
	return off, nil, nil
}

// createSegment creates a new segment file and writes its header. The
// caller syncs the file and the directory before relying on it.
func createSegment(dir string, seq, first uint64) (*segment, *os.File, error) {
	path := filepath.Join(dir, segmentName(seq, first))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: create segment: %w", err)
	}
	hdr := appendRecord(nil, recSegmentHeader, marshalSegmentHeader(segmentHeader{version: segmentFormat, seq: seq, first: first}))
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("storage: write header of %s: %w", path, err)
	}
	return &segment{seq: seq, first: first, path: path, size: int64(len(hdr))}, f, nil
}

// fsyncer calls fsync, or, in the unsafe no-fsync mode, pretends to: every
// write then stays in the page cache, and a power failure loses it.
type fsyncer struct{ skip bool }

// file fsyncs f.
func (fs fsyncer) file(f *os.File) error {
	if fs.skip {
		return nil
	}
	return f.Sync()
}

// dir fsyncs a directory so that files created, renamed or removed in
// it survive a crash.
func (fs fsyncer) dir(dir string) error {
	if fs.skip {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("storage: sync directory: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storage: sync directory %s: %w", dir, err)
	}
	return nil
}

// RecordOffsets returns the offset of every record in a segment file's
// contents that decodes, in order, and the offset where decoding stopped
// (len(data) when every record decodes). The harness uses it to tear or
// damage a record precisely (harness/docker, Cluster.Corrupt).
func RecordOffsets(data []byte) (offs []int64, end int64) {
	stop, _, _ := scanSegment(data, func(off int, _ byte, _ []byte) error {
		offs = append(offs, int64(off))
		return nil
	})
	return offs, int64(stop)
}
