package raft

// Read-only access to the log, for observers that check the Raft
// invariants from outside (tests, the simulator). Nothing here changes the
// node.

// LogTerm returns the term of the entry at index i, or the snapshot's term
// at its own index; ok is false for an index compacted away or past the
// end of the log.
func (n *RawNode) LogTerm(i uint64) (term uint64, ok bool) {
	l := &n.r.log
	if i > l.lastIndex() {
		return 0, false
	}
	t, err := l.term(i)
	return t, err == nil
}

// LogEntry returns the entry at index i while the log holds it. The
// entry's Data is shared with the log: observers must not modify it.
func (n *RawNode) LogEntry(i uint64) (Entry, bool) {
	l := &n.r.log
	if i < l.firstIndex() || i > l.lastIndex() {
		return Entry{}, false
	}
	return l.entries[i-l.firstIndex()], true
}
