package kv

import (
	"cmp"
	"encoding/binary"
	"maps"
	"slices"
)

// snapshotVersion is the first byte of every snapshot.
const snapshotVersion = 1

// Smallest encodings of one register (key length, 1-byte key, value) and one
// session (client length, 1-byte client, seq, index, status, value, flags),
// used to reject counts the input cannot hold before allocating for them.
const (
	minRegisterLen = 3
	minSessionLen  = 7
)

// flagPresent is bit 0 of a cached result's flags byte.
const flagPresent = 1

// Snapshot encodes the whole state in format version 1:
//
//	version(1) applied(uvarint)
//	nregs(uvarint)     { key(str) value(varint) }            keys ascending
//	nsessions(uvarint) { client(str) seq(uvarint) index(uvarint)
//	                     status(1) value(varint) flags(1) }   clients ascending
//
// Keys and clients are sorted, so equal states give identical bytes.
func (s *Store) Snapshot() []byte {
	keys := slices.Sorted(maps.Keys(s.regs))
	clients := slices.Sorted(maps.Keys(s.sessions))
	b := make([]byte, 0, 1+binary.MaxVarintLen64*3+len(keys)*16+len(clients)*32)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, s.applied)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = binary.AppendVarint(b, s.regs[k])
	}
	b = binary.AppendUvarint(b, uint64(len(clients)))
	for _, c := range clients {
		x := s.sessions[c]
		b = appendString(b, c)
		b = binary.AppendUvarint(b, x.seq)
		b = binary.AppendUvarint(b, x.index)
		b = append(b, byte(x.result.Status))
		b = binary.AppendVarint(b, x.result.Value)
		var flags byte
		if x.result.Present {
			flags |= flagPresent
		}
		b = append(b, flags)
	}
	return b
}

// Restore replaces the whole state with the one encoded in b. It accepts
// only what Snapshot can produce (sorted unique keys and clients, session
// indices unique and within the applied index, cached results a command can
// yield), so a successful Restore re-snapshots to the same bytes. If the
// snapshot holds more sessions than MaxSessions, the oldest are evicted as
// Apply would have. On error, which wraps ErrMalformed, the store is
// unchanged.
func (s *Store) Restore(b []byte) error {
	d := decoder{what: "snapshot", b: b}
	if v := d.readByte("version"); d.err == nil && v != snapshotVersion {
		d.failf("version", "unsupported version %d", v)
	}
	applied := d.readUvarint("applied index")

	n := d.count("register count", minRegisterLen)
	regs := make(map[string]int64, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		k := d.readString("key", MaxKeyLen)
		v := d.readVarint("value")
		if d.err == nil && (k == "" || (i > 0 && k <= prev)) {
			d.failf("key", "key %q is empty or not above the previous key %q", k, prev)
		}
		regs[k], prev = v, k
	}

	n = d.count("session count", minSessionLen)
	list := make([]*session, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		x := &session{client: d.readString("client id", MaxClientIDLen)}
		if d.err == nil && (x.client == "" || (i > 0 && x.client <= list[i-1].client)) {
			d.failf("client id", "client %q is empty or not above the previous client", x.client)
		}
		x.seq = d.readUvarint("seq")
		if d.err == nil && x.seq == 0 {
			d.failf("seq", "client %q: seq 0", x.client)
		}
		x.index = d.readUvarint("session index")
		if d.err == nil && (x.index == 0 || x.index > applied) {
			d.failf("session index", "client %q: index %d outside [1, %d]", x.client, x.index, applied)
		}
		x.result.Status = Status(d.readByte("status"))
		x.result.Value = d.readVarint("result value")
		flags := d.readByte("flags")
		x.result.Present = flags&flagPresent != 0
		if d.err == nil && !validCached(x.result, flags) {
			d.failf("result", "client %q: impossible cached result %+v (flags %#x)", x.client, x.result, flags)
		}
		list = append(list, x)
	}
	if err := d.finish(); err != nil {
		return err
	}

	// Rebuild the eviction list. Apply gives every session a distinct index,
	// so a repeated one means the snapshot was not written by Snapshot.
	slices.SortFunc(list, func(a, b *session) int { return cmp.Compare(a.index, b.index) })
	for i := 1; i < len(list); i++ {
		if list[i].index == list[i-1].index {
			d.failf("session index", "clients %q and %q share index %d", list[i-1].client, list[i].client, list[i].index)
			return d.err
		}
	}
	if len(list) > s.opts.MaxSessions {
		list = list[len(list)-s.opts.MaxSessions:]
	}

	s.applied, s.regs = applied, regs
	s.sessions = make(map[string]*session, len(list))
	s.oldest, s.newest = nil, nil
	for _, x := range list {
		s.sessions[x.client] = x
		s.pushNewest(x)
	}
	return nil
}

// validCached reports whether r could be a session's cached result: only
// applied commands are cached, a successful one leaves the key present, and
// an unset key has value 0.
func validCached(r Result, flags byte) bool {
	switch {
	case flags&^flagPresent != 0:
		return false
	case r.Status != StatusOK && r.Status != StatusCASMismatch:
		return false
	case r.Status == StatusOK && !r.Present:
		return false
	case !r.Present && r.Value != 0:
		return false
	}
	return true
}
