package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Record framing, shared by WAL segments and snapshot files:
//
//	offset 0: length  uint32 LE  number of bytes that follow the CRC (type + payload), >= 1
//	offset 4: crc     uint32 LE  CRC-32C (Castagnoli) of type + payload
//	offset 8: type    byte
//	offset 9: payload length-1 bytes
//
// A length of zero is never written, so a run of zeros (a preallocated or
// never-written tail) can never decode as a record.

const (
	recordHeaderLen = 8
	// maxRecordLen bounds one record (type + payload). It keeps a garbage
	// length field from looking plausible and leaves room in the uint32.
	maxRecordLen = 1 << 30
)

// Record types.
const (
	// recSegmentHeader opens every segment: format version, sequence number
	// and first index, which must match the file name.
	recSegmentHeader byte = 1
	// recEntry is one raft.Entry (raft.MarshalEntry).
	recEntry byte = 2
	// recHardState is one raft.HardState (raft.MarshalHardState); the last
	// one in the log wins.
	recHardState byte = 3
	// recLogReset says the log now ends at a snapshot (index, term) and
	// holds nothing before it: written when a snapshot from the leader
	// replaces a log that does not contain it.
	recLogReset byte = 4
	// recSnapshot is the only record of a snapshot file (raft.MarshalSnapshot).
	recSnapshot byte = 5
)

// segmentFormat is the version in every segment header.
const segmentFormat = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error caused by damaged data on disk.
var ErrCorrupt = errors.New("storage: corrupt data")

// Reasons a record does not decode. errShort is the only one that more
// bytes could cure; all are candidates for a torn tail.
var (
	errShort     = errors.New("record extends past the end of the file")
	errBadLength = errors.New("record length is zero or too large")
	errBadCRC    = errors.New("record CRC mismatch")
)

// appendRecord appends the framed record to b.
func appendRecord(b []byte, typ byte, payload []byte) []byte {
	b, _ = appendRecordWith(b, typ, func(b []byte) []byte { return append(b, payload...) })
	return b
}

// appendRecordWith appends a record whose payload enc appends in place, so
// an entry is encoded straight into the write buffer without a copy. It
// fails if the record is longer than maxRecordLen.
func appendRecordWith(b []byte, typ byte, enc func([]byte) []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	b = enc(b)
	body := b[start+recordHeaderLen:]
	if len(body) > maxRecordLen {
		return b[:start], fmt.Errorf("storage: record of %d bytes exceeds the limit of %d", len(body), maxRecordLen)
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, castagnoli))
	return b, nil
}

// decodeRecord decodes the record at the start of b. It returns the type,
// the payload (aliasing b) and the record's total size. It never reads
// past b and never allocates, whatever b holds.
func decodeRecord(b []byte) (typ byte, payload []byte, n int, err error) {
	if len(b) < recordHeaderLen {
		return 0, nil, 0, errShort
	}
	l := binary.LittleEndian.Uint32(b[0:])
	if l == 0 || l > maxRecordLen {
		return 0, nil, 0, errBadLength
	}
	if uint64(l) > uint64(len(b)-recordHeaderLen) {
		return 0, nil, 0, errShort
	}
	body := b[recordHeaderLen : recordHeaderLen+int(l)]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return 0, nil, 0, errBadCRC
	}
	return body[0], body[1:], recordHeaderLen + int(l), nil
}

// knownRecordType reports whether t may appear in a WAL segment.
func knownRecordType(t byte) bool {
	return t >= recSegmentHeader && t <= recLogReset
}

// nextValidRecord returns the offset of the first position after from at
// which a CRC-valid WAL record of a known type starts, or -1. It is how
// recovery tells a torn tail (nothing valid follows the bad record) from
// corruption in the middle of the log (something valid does).
func nextValidRecord(b []byte, from int) int {
	for p := from + 1; p+recordHeaderLen < len(b); p++ {
		// Cheap filters first: most garbage fails on length or type
		// before any CRC is computed.
		l := binary.LittleEndian.Uint32(b[p:])
		if l == 0 || l > maxRecordLen || uint64(l) > uint64(len(b)-p-recordHeaderLen) {
			continue
		}
		if !knownRecordType(b[p+recordHeaderLen]) {
			continue
		}
		if _, _, _, err := decodeRecord(b[p:]); err == nil {
			return p
		}
	}
	return -1
}

// segmentHeader is the payload of recSegmentHeader.
type segmentHeader struct {
	version uint8
	seq     uint64
	first   uint64
}

func marshalSegmentHeader(h segmentHeader) []byte {
	b := make([]byte, 17)
	b[0] = h.version
	binary.LittleEndian.PutUint64(b[1:], h.seq)
	binary.LittleEndian.PutUint64(b[9:], h.first)
	return b
}

func unmarshalSegmentHeader(b []byte) (segmentHeader, error) {
	if len(b) != 17 {
		return segmentHeader{}, fmt.Errorf("segment header is %d bytes, want 17", len(b))
	}
	return segmentHeader{
		version: b[0],
		seq:     binary.LittleEndian.Uint64(b[1:]),
		first:   binary.LittleEndian.Uint64(b[9:]),
	}, nil
}

// logReset is the payload of recLogReset: the snapshot the log restarts after.
type logReset struct{ index, term uint64 }

func marshalLogReset(r logReset) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:], r.index)
	binary.LittleEndian.PutUint64(b[8:], r.term)
	return b
}

func unmarshalLogReset(b []byte) (logReset, error) {
	if len(b) != 16 {
		return logReset{}, fmt.Errorf("log reset record is %d bytes, want 16", len(b))
	}
	r := logReset{index: binary.LittleEndian.Uint64(b[0:]), term: binary.LittleEndian.Uint64(b[8:])}
	if r.index == 0 || r.index == math.MaxUint64 {
		return logReset{}, fmt.Errorf("log reset to index %d", r.index)
	}
	return r, nil
}

// restoreHint tells the operator what to do about corruption: the safe
// repair for a Raft replica is to rejoin empty and catch up from a peer.
const restoreHint = "restore this node from a peer: move the data directory away and restart the node empty"

// corruptError reports damaged data at path and off, wrapping ErrCorrupt
// and cause (which may be nil).
func corruptError(path string, off int64, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		return fmt.Errorf("%w: %s at offset %d: %s: %w; %s", ErrCorrupt, path, off, msg, cause, restoreHint)
	}
	return fmt.Errorf("%w: %s at offset %d: %s; %s", ErrCorrupt, path, off, msg, restoreHint)
}
