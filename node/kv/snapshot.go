package kv

import (
	"cmp"
	"encoding/binary"
	"maps"
	"slices"
)

// The first byte of every snapshot is its format version. Version 2
// adds the membership (address book and removed IDs); a state without
// any is still written as version 1, so clusters that never change
// membership keep producing the bytes they always did, and an old
// snapshot loads with no membership.
const (
	snapshotV1      = 1
	snapshotVersion = 2
)

// Smallest encodings of one register (key length, 1-byte key, value), one
// session (client length, 1-byte client, seq, index, status, value, flags),
// one member (ID length, 1-byte ID, address length) and one removed ID,
// used to reject counts the input cannot hold before allocating for them.
const (
	minRegisterLen = 3
	minSessionLen  = 7
	minMemberLen   = 3
	minRemovedLen  = 2
)

// flagPresent is bit 0 of a cached result's flags byte.
const flagPresent = 1

// Snapshot encodes the whole state:
//
//	version(1) applied(uvarint)
//	nregs(uvarint)     { key(str) value(varint) }            keys ascending
//	nsessions(uvarint) { client(str) seq(uvarint) index(uvarint)
//	                     status(1) value(varint) flags(1) }   clients ascending
//	version 2 only:
//	nmembers(uvarint)  { id(str) addr(str) }                 ids ascending
//	nremoved(uvarint)  { id(str) }                           ids ascending
//
// Keys, clients and IDs are sorted, so equal states give identical bytes.
func (s *Store) Snapshot() []byte {
	keys := slices.Sorted(maps.Keys(s.regs))
	clients := slices.Sorted(maps.Keys(s.sessions))
	b := make([]byte, 0, 1+binary.MaxVarintLen64*3+len(keys)*16+len(clients)*32)
	version := byte(snapshotV1)
	if len(s.addrs) > 0 || len(s.removed) > 0 {
		version = snapshotVersion
	}
	b = append(b, version)
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
	if version == snapshotV1 {
		return b
	}
	ids := slices.Sorted(maps.Keys(s.addrs))
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = appendString(b, id)
		b = appendString(b, s.addrs[id])
	}
	removed := s.RemovedIDs()
	b = binary.AppendUvarint(b, uint64(len(removed)))
	for _, id := range removed {
		b = appendString(b, id)
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
	version := d.readByte("version")
	if d.err == nil && version != snapshotV1 && version != snapshotVersion {
		d.failf("version", "unsupported version %d", version)
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
	addrs, removed := make(map[string]string), make(map[string]bool)
	if version == snapshotVersion {
		addrs, removed = d.members()
		if d.err == nil && len(addrs) == 0 && len(removed) == 0 {
			d.failf("version", "version 2 without membership (written as version 1)")
		}
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
	s.addrs, s.removed = addrs, removed
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

// members reads the membership part of a version 2 snapshot.
func (d *decoder) members() (map[string]string, map[string]bool) {
	n := d.count("member count", minMemberLen)
	addrs := make(map[string]string, n)
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		id := d.readString("member id", MaxNodeIDLen)
		addr := d.readString("member address", MaxAddrLen)
		if d.err == nil && (id == "" || (i > 0 && id <= prev)) {
			d.failf("member id", "member %q is empty or not above the previous member %q", id, prev)
		}
		addrs[id], prev = addr, id
	}
	n = d.count("removed count", minRemovedLen)
	removed := make(map[string]bool, n)
	prev = ""
	for i := 0; i < n && d.err == nil; i++ {
		id := d.readString("removed id", MaxNodeIDLen)
		if d.err == nil && (id == "" || (i > 0 && id <= prev)) {
			d.failf("removed id", "removed %q is empty or not above the previous removed ID %q", id, prev)
		}
		removed[id], prev = true, id
	}
	return addrs, removed
}
