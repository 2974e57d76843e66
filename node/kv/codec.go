package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every error UnmarshalCommand and Restore return
// for bytes that are not a valid encoding, so callers can tell corrupt input
// from other failures with errors.Is.
var ErrMalformed = errors.New("malformed encoding")

// decoder reads the encodings of this package. Its error is sticky: after the
// first failure every read returns a zero value, so a decoding function can
// read all fields and check d.err once, and it never indexes out of range.
//
// It accepts only the minimal varint encoding of each number, which makes the
// formats canonical: whatever decodes re-encodes to the same bytes.
type decoder struct {
	what string // "command" or "snapshot", for error context
	b    []byte
	off  int
	err  error
}

func (d *decoder) failf(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("kv: decode %s: %s at offset %d: %s: %w",
			d.what, field, d.off, fmt.Sprintf(format, args...), ErrMalformed)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) readByte(field string) byte {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 1 {
		d.failf(field, "truncated")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) readUvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		d.failf(field, "truncated")
		return 0
	case n < 0:
		d.failf(field, "varint overflows 64 bits")
		return 0
	case n != uvarintLen(v):
		d.failf(field, "non-minimal varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) readVarint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	switch {
	case n == 0:
		d.failf(field, "truncated")
		return 0
	case n < 0:
		d.failf(field, "varint overflows 64 bits")
		return 0
	}
	var tmp [binary.MaxVarintLen64]byte
	if n != binary.PutVarint(tmp[:], v) {
		d.failf(field, "non-minimal varint")
		return 0
	}
	d.off += n
	return v
}

// readString reads a length-prefixed string of at most max bytes. The bound
// is checked before anything is allocated, so a corrupt length cannot make
// the decoder allocate more than the input holds.
func (d *decoder) readString(field string, max int) string {
	n := d.readUvarint(field + " length")
	if d.err != nil {
		return ""
	}
	if n > uint64(max) {
		d.failf(field, "length %d exceeds limit %d", n, max)
		return ""
	}
	if n > uint64(d.remaining()) {
		d.failf(field, "length %d exceeds the %d bytes left", n, d.remaining())
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

// count reads the number of items that follow, each at least minSize bytes
// long, and rejects counts the remaining input cannot hold, so a garbage
// count cannot make the caller allocate gigabytes.
func (d *decoder) count(field string, minSize int) int {
	n := d.readUvarint(field)
	if d.err != nil {
		return 0
	}
	if limit := uint64(d.remaining() / minSize); n > limit {
		d.failf(field, "count %d exceeds the %d that fit in the %d bytes left", n, limit, d.remaining())
		return 0
	}
	return int(n)
}

// finish reports the first error, or an error if bytes are left over.
func (d *decoder) finish() error {
	if d.err == nil && d.remaining() != 0 {
		d.failf("end", "%d trailing bytes", d.remaining())
	}
	return d.err
}

func uvarintLen(v uint64) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], v)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
