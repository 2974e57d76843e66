package kv

import (
	"fmt"
	"maps"
	"slices"
)

// MaxAddrLen bounds a member's peer address.
const MaxAddrLen = 1 << 10

// MemberOp is a committed membership change, as the state machine sees it.
type MemberOp uint8

const (
	// MemberAdd records a new member's peer address.
	MemberAdd MemberOp = iota + 1
	// MemberPromote changes nothing here but the address, if one is given.
	MemberPromote
	// MemberRemove forgets the member's address and retires its ID for
	// good: a reused ID could let a stale message of the old incarnation
	// count for the new one.
	MemberRemove
)

// ApplyMember records a membership change committed at index: the
// address book and the removed IDs live in the state machine so they
// survive snapshots and restarts, and every replica agrees on them. Like
// Apply, an index at or below AppliedIndex is ignored.
func (s *Store) ApplyMember(index uint64, op MemberOp, id, addr string) error {
	if index <= s.applied {
		return nil
	}
	s.applied = index
	if id == "" || len(id) > MaxNodeIDLen || len(addr) > MaxAddrLen {
		return fmt.Errorf("kv: member change at index %d: ID %q or address of %d bytes out of bounds", index, id, len(addr))
	}
	switch op {
	case MemberAdd:
		s.addrs[id] = addr
	case MemberPromote:
		if addr != "" {
			s.addrs[id] = addr
		}
	case MemberRemove:
		delete(s.addrs, id)
		s.removed[id] = true
	default:
		return fmt.Errorf("kv: member change at index %d: unknown op %d", index, op)
	}
	return nil
}

// MemberAddr returns the peer address recorded for a member.
func (s *Store) MemberAddr(id string) (string, bool) {
	a, ok := s.addrs[id]
	return a, ok
}

// MemberAddrs returns a copy of the address book.
func (s *Store) MemberAddrs() map[string]string { return maps.Clone(s.addrs) }

// Removed reports whether id was ever removed from the cluster.
func (s *Store) Removed(id string) bool { return s.removed[id] }

// RemovedIDs returns every removed ID, sorted.
func (s *Store) RemovedIDs() []string { return slices.Sorted(maps.Keys(s.removed)) }
