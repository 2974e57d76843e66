// Package memstore is an in-memory stand-in for node/storage that models
// what a crash keeps: only what was synced. The simulator runs replicas on
// it; the real disk format is tested in node/storage.
package memstore

import (
	"fmt"
	"slices"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Store implements replica.Storage. Not safe for concurrent use.
type Store struct {
	hs, syncedHS     raft.HardState
	ents, syncedEnts []raft.Entry
	// dirty is the position in ents of the first entry changed since the
	// last Sync, so Sync copies only what changed.
	dirty int
	snap  raft.Snapshot
	syncs uint64
}

// Append writes hard state and entries without making them durable.
func (s *Store) Append(hs raft.HardState, ents []raft.Entry) error {
	if !hs.IsEmpty() {
		s.hs = hs
	}
	first := s.snap.Meta.Index + 1
	for _, e := range ents {
		if e.Index < first {
			continue // covered by the snapshot already
		}
		at := e.Index - first
		if at > uint64(len(s.ents)) {
			return fmt.Errorf("memstore: append of index %d leaves a gap after %d", e.Index, first+uint64(len(s.ents))-1)
		}
		s.ents = append(s.ents[:at], e)
		s.dirty = min(s.dirty, int(at))
	}
	return nil
}

// Sync makes everything appended durable.
func (s *Store) Sync() error {
	s.syncedHS = s.hs
	keep := min(s.dirty, len(s.syncedEnts))
	s.syncedEnts = append(s.syncedEnts[:keep], s.ents[keep:]...)
	s.dirty = len(s.ents)
	s.syncs++
	return nil
}

// SaveSnapshot durably stores snap and drops the log it covers; a
// snapshot that does not continue the log replaces it.
func (s *Store) SaveSnapshot(snap raft.Snapshot) error {
	if snap.Meta.Index <= s.snap.Meta.Index {
		return nil
	}
	trim := func(ents []raft.Entry) []raft.Entry {
		for i, e := range ents {
			if e.Index == snap.Meta.Index && e.Term == snap.Meta.Term {
				return slices.Clone(ents[i+1:])
			}
		}
		return nil
	}
	s.ents, s.syncedEnts = trim(s.ents), trim(s.syncedEnts)
	s.dirty = 0
	s.snap = snap
	return nil
}

// Crash forgets everything not synced.
func (s *Store) Crash() {
	s.hs = s.syncedHS
	s.ents = slices.Clone(s.syncedEnts)
	s.dirty = len(s.ents)
}

// Durable returns what a restart recovers.
func (s *Store) Durable() (raft.HardState, raft.Snapshot, []raft.Entry) {
	hs := s.syncedHS
	last := s.snap.Meta.Index + uint64(len(s.syncedEnts))
	hs.Commit = min(max(hs.Commit, s.snap.Meta.Index), last)
	return hs, s.snap, slices.Clone(s.syncedEnts)
}

// Syncs counts Sync calls.
func (s *Store) Syncs() uint64 { return s.syncs }

// Unsynced is how many entries a crash now would lose or roll back.
func (s *Store) Unsynced() int { return len(s.ents) - min(s.dirty, len(s.ents)) }
