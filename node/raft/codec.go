package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire and disk encoding of entries, hard state and messages: a compact
// varint format written by hand so the decoders can bound every length by
// the bytes actually present (garbage from a disk or a peer must produce an
// error, never a panic or a huge allocation).

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("raft: corrupt encoding")

const (
	maxIDLen    = 256
	codecFormat = 1
)

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) bytes(p []byte)   { e.uvarint(uint64(len(p))); e.b = append(e.b, p...) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) byte(v byte)      { e.b = append(e.b, v) }

func (e *encoder) entry(ent Entry) {
	e.uvarint(ent.Term)
	e.uvarint(ent.Index)
	e.byte(byte(ent.Type))
	e.bytes(ent.Data)
}

func (e *encoder) ids(ids []NodeID) {
	e.uvarint(uint64(len(ids)))
	for _, id := range ids {
		e.str(string(id))
	}
}

// snapshot writes the voters where the member list was before learners
// existed, and the learners after the data: on disk (optional) only when
// there are any, so a snapshot file written before learners existed
// decodes as one without them; in a message always.
func (e *encoder) snapshot(s Snapshot, optional bool) {
	e.uvarint(s.Meta.Index)
	e.uvarint(s.Meta.Term)
	e.ids(s.Meta.Conf.Voters)
	e.bytes(s.Data)
	if !optional || len(s.Meta.Conf.Learners) > 0 {
		e.ids(s.Meta.Conf.Learners)
	}
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("unexpected end")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

// bytes returns a copy so decoded values never alias a reused buffer.
func (d *decoder) bytes(limit int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)-d.off) || n > uint64(limit) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b)-d.off)
		return nil
	}
	if n == 0 {
		return nil
	}
	p := make([]byte, n)
	copy(p, d.b[d.off:])
	d.off += int(n)
	return p
}

func (d *decoder) str(limit int) string { return string(d.bytes(limit)) }

// count reads a collection length and checks it against the bytes left,
// given that each element takes at least minSize bytes.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64((len(d.b)-d.off)/minSize) {
		d.fail("count %d exceeds the bytes left", n)
		return 0
	}
	return int(n)
}

func (d *decoder) entry() Entry {
	var e Entry
	e.Term = d.uvarint()
	e.Index = d.uvarint()
	e.Type = EntryType(d.byte())
	if e.Type > EntryConfChange {
		d.fail("unknown entry type %d", e.Type)
	}
	e.Data = d.bytes(len(d.b))
	return e
}

func (d *decoder) ids() []NodeID {
	n := d.count(1)
	var out []NodeID
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, NodeID(d.str(maxIDLen)))
	}
	return out
}

// snapshot reads what encoder.snapshot wrote; optional learners end the
// buffer when present.
func (d *decoder) snapshot(optional bool) Snapshot {
	var s Snapshot
	s.Meta.Index = d.uvarint()
	s.Meta.Term = d.uvarint()
	s.Meta.Conf.Voters = d.ids()
	s.Data = d.bytes(len(d.b))
	if !optional || (d.err == nil && d.off < len(d.b)) {
		s.Meta.Conf.Learners = d.ids()
	}
	if d.err == nil && !s.Meta.Conf.valid() {
		d.fail("snapshot configuration not sorted and disjoint: %v", s.Meta.Conf)
	}
	return s
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}

// MarshalEntry appends the encoding of e to b.
func MarshalEntry(b []byte, e Entry) []byte {
	enc := encoder{b: b}
	enc.entry(e)
	return enc.b
}

// UnmarshalEntry decodes one entry that fills all of b.
func UnmarshalEntry(b []byte) (Entry, error) {
	d := decoder{b: b}
	e := d.entry()
	return e, d.finish()
}

// MarshalHardState appends the encoding of hs to b.
func MarshalHardState(b []byte, hs HardState) []byte {
	enc := encoder{b: b}
	enc.uvarint(hs.Term)
	enc.str(string(hs.Vote))
	enc.uvarint(hs.Commit)
	return enc.b
}

// UnmarshalHardState decodes a hard state that fills all of b.
func UnmarshalHardState(b []byte) (HardState, error) {
	d := decoder{b: b}
	var hs HardState
	hs.Term = d.uvarint()
	hs.Vote = NodeID(d.str(maxIDLen))
	hs.Commit = d.uvarint()
	return hs, d.finish()
}

// MarshalSnapshot appends the encoding of s to b.
func MarshalSnapshot(b []byte, s Snapshot) []byte {
	enc := encoder{b: b}
	enc.snapshot(s, true)
	return enc.b
}

// UnmarshalSnapshot decodes a snapshot that fills all of b.
func UnmarshalSnapshot(b []byte) (Snapshot, error) {
	d := decoder{b: b}
	s := d.snapshot(true)
	return s, d.finish()
}

// MarshalMessage appends the encoding of m to b.
func MarshalMessage(b []byte, m Message) []byte {
	enc := encoder{b: b}
	enc.byte(codecFormat)
	enc.byte(byte(m.Type))
	enc.str(string(m.From))
	enc.str(string(m.To))
	enc.uvarint(m.Term)
	enc.uvarint(m.LogTerm)
	enc.uvarint(m.Index)
	enc.uvarint(m.Commit)
	enc.uvarint(m.RejectHint)
	var flags byte
	if m.Reject {
		flags |= 1
	}
	if m.Snapshot != nil {
		flags |= 2
	}
	enc.byte(flags)
	enc.uvarint(uint64(len(m.Entries)))
	for _, e := range m.Entries {
		enc.entry(e)
	}
	if m.Snapshot != nil {
		enc.snapshot(*m.Snapshot, false)
	}
	enc.bytes(m.Context)
	return enc.b
}

// UnmarshalMessage decodes a message that fills all of b.
func UnmarshalMessage(b []byte) (Message, error) {
	d := decoder{b: b}
	var m Message
	if v := d.byte(); d.err == nil && v != codecFormat {
		d.fail("message format %d, want %d", v, codecFormat)
	}
	m.Type = MessageType(d.byte())
	if d.err == nil && !m.Type.Valid() {
		d.fail("unknown message type %d", m.Type)
	}
	m.From = NodeID(d.str(maxIDLen))
	m.To = NodeID(d.str(maxIDLen))
	m.Term = d.uvarint()
	m.LogTerm = d.uvarint()
	m.Index = d.uvarint()
	m.Commit = d.uvarint()
	m.RejectHint = d.uvarint()
	flags := d.byte()
	if flags&^3 != 0 {
		d.fail("unknown flags %#x", flags)
	}
	m.Reject = flags&1 != 0
	// An entry takes at least 4 bytes: term, index, type, data length.
	n := d.count(4)
	if n > 0 {
		m.Entries = make([]Entry, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		m.Entries = append(m.Entries, d.entry())
	}
	if flags&2 != 0 {
		s := d.snapshot(false)
		m.Snapshot = &s
	}
	m.Context = d.bytes(len(d.b))
	if err := d.finish(); err != nil {
		return Message{}, err
	}
	return m, nil
}
