package invariant

import "github.com/raftcheck/raftcheck/node/raft"

// variant is one (term, previous term, data) seen at an index. Two
// entries at one index with one term must be the same entry after the
// same previous term; by induction the prefixes then match too, which is
// the Log Matching property, checked one new entry at a time.
type variant struct {
	term, prevTerm, hash uint64
	by                   uint32 // the node that held it first (Checker.ids)
}

// registry holds the first variant seen at each index (term 0 while none
// was), and the rare further ones, which differ in term, aside.
type registry struct {
	first chunked[variant]
	more  map[uint64][]variant
}

// add records nv at index i and returns the earlier variant it conflicts
// with, if any.
func (r *registry) add(i uint64, nv variant) *variant {
	for r.first.len() < i {
		r.first.push(variant{})
	}
	old := r.first.at(i - 1)
	if old.term == 0 {
		*old = nv
		return nil
	}
	if old.term != nv.term {
		more := r.more[i]
		old = nil
		for k := range more {
			if more[k].term == nv.term {
				old = &more[k]
				break
			}
		}
		if old == nil {
			if r.more == nil {
				r.more = map[uint64][]variant{}
			}
			r.more[i] = append(more, nv)
			return nil
		}
	}
	if old.prevTerm != nv.prevTerm || old.hash != nv.hash {
		return old
	}
	return nil
}

// entryHash is FNV-1a over the entry's type and data, written out: the
// hash.Hash interface costs more than hashing a short command.
func entryHash(e raft.Entry) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(e.Type)) * prime
	for _, b := range e.Data {
		h = (h ^ uint64(b)) * prime
	}
	return h | 1 // never 0, which means unknown
}

// syncLog brings the node's remembered log up to date with its view and
// registers every entry that changed. It returns the lowest index that
// changed since the last observation.
func (c *Checker) syncLog(ns *nodeState, st raft.Status) (uint64, error) {
	v := ns.view
	first, last := st.FirstIndex, st.LastIndex
	from := max(c.unchangedUpTo(ns, first, last)+1, first)
	for len(ns.runs) > 0 && ns.runs[len(ns.runs)-1].first >= from {
		ns.runs = ns.runs[:len(ns.runs)-1]
	}
	// Runs wholly compacted away are not needed any more.
	drop := 0
	for drop+1 < len(ns.runs) && ns.runs[drop+1].first <= first {
		drop++
	}
	if drop > 0 {
		ns.runs = append(ns.runs[:0], ns.runs[drop:]...)
	}
	prevTerm, _ := v.LogTerm(from - 1)
	for i := from; i <= last; i++ {
		e, ok := v.LogEntry(i)
		if !ok || e.Index != i {
			return from, c.violation(LogMatching, []raft.NodeID{ns.id},
				"%s reports index %d in its log but holds entry %d there", ns.id, i, e.Index)
		}
		if e.Term < prevTerm {
			return from, c.violation(LogMatching, []raft.NodeID{ns.id},
				"%s's log goes from term %d back to %d at index %d; %s", ns.id, prevTerm, e.Term, i, describe(ns.id, v, i))
		}
		if old := c.seen.add(i, variant{term: e.Term, prevTerm: prevTerm, hash: entryHash(e), by: ns.num}); old != nil {
			what := "data"
			if old.prevTerm != prevTerm {
				what = "previous entries"
			}
			detail := "index %d term %d: %s holds it after term %d, %s held it with other %s after term %d; %s"
			by := c.ids[old.by]
			args := []any{i, e.Term, ns.id, prevTerm, by, what, old.prevTerm, describe(ns.id, v, i)}
			if on := c.nodes[by]; on != nil && on.view != nil && on != ns {
				detail += "; " + describe(by, on.view, i)
			}
			return from, c.violation(LogMatching, []raft.NodeID{ns.id, by}, detail, args...)
		}
		if n := len(ns.runs); n == 0 || ns.runs[n-1].term != e.Term {
			ns.runs = append(ns.runs, run{first: i, term: e.Term})
		}
		prevTerm = e.Term
	}
	ns.last = last
	return from, nil
}

// unchangedUpTo returns the largest j >= first-1 such that the node's log
// in [first, j] has the terms last checked. Unless a violation is in the
// making, a log changes only by truncating a suffix and appending, and
// terms never decrease along it, so comparing the ends of runs suffices.
func (c *Checker) unchangedUpTo(ns *nodeState, first, last uint64) uint64 {
	n := len(ns.runs)
	if n == 0 {
		return first - 1
	}
	v := ns.view
	if ns.last <= last && c.runIntact(ns, n-1, ns.last) {
		return ns.last // the common case: nothing truncated
	}
	end := ns.last
	for k := n - 1; k >= 0; k-- {
		r := ns.runs[k]
		lo, hi := max(r.first, first), min(end, last)
		if lo <= hi {
			if t, ok := v.LogTerm(lo); ok && t == r.term && (lo > r.first || k == 0 || c.runIntact(ns, k, lo)) {
				// The run survives from lo; find where it now ends.
				for lo < hi {
					mid := lo + (hi-lo+1)/2
					if t, ok := v.LogTerm(mid); ok && t == r.term {
						lo = mid
					} else {
						hi = mid - 1
					}
				}
				return lo
			}
		}
		end = r.first - 1
	}
	return first - 1
}

// runIntact reports whether run k still holds its term from its first
// index to end, and starts right after the previous run's term: three
// lookups that catch a rewrite anywhere in the last run.
func (c *Checker) runIntact(ns *nodeState, k int, end uint64) bool {
	v, r := ns.view, ns.runs[k]
	if t, ok := v.LogTerm(end); !ok || t != r.term {
		return false
	}
	if t, ok := v.LogTerm(r.first); ok && t != r.term {
		return false // (compacted is fine: the run's start is settled)
	}
	if k > 0 {
		if t, ok := v.LogTerm(r.first - 1); ok && t != ns.runs[k-1].term {
			return false
		}
	}
	return true
}

// checkCommit compares the node's committed prefix with the known
// committed log (State Machine Safety: the entry at the node's commit
// index, and by Log Matching all before it, is the committed one), then
// extends the known committed log with what the node newly committed.
// from is the lowest log index that changed in this step.
func (c *Checker) checkCommit(ns *nodeState, st raft.Status, from uint64) error {
	v := ns.view
	k := c.committed.len()
	if j := min(st.Commit, k); j >= max(st.FirstIndex-1, 1) {
		want := *c.committed.at(j - 1)
		got, _ := v.LogTerm(j)
		bad := want.term != 0 && got != want.term
		if !bad && want.hash != 0 && from <= j && j >= st.FirstIndex {
			e, _ := v.LogEntry(j)
			bad = entryHash(e) != want.hash
		}
		if bad {
			return c.violation(StateMachineSafety, []raft.NodeID{ns.id, c.ids[want.by]},
				"%s has committed index %d with term %d, but %s committed term %d there at step %d; %s; committed %s",
				ns.id, j, got, c.ids[want.by], want.term, want.step, describe(ns.id, v, j), c.committedTail(j))
		}
	}
	if st.Commit <= k {
		return nil
	}
	start := k + 1
	if snap := st.FirstIndex - 1; snap > k {
		// The node's snapshot reaches past what we saw committed: its
		// entries are gone, only the snapshot's last term is known.
		for c.committed.len() < snap-1 {
			c.committed.push(committedEntry{by: ns.num, step: c.step, seenIn: st.Term})
		}
		t, _ := v.LogTerm(snap)
		c.committed.push(committedEntry{term: t, by: ns.num, step: c.step, seenIn: st.Term})
		start = snap + 1
		// Conf entries may hide in the snapshot.
		c.confs = append(c.confs, confPoint{index: snap})
	}
	for i := start; i <= st.Commit; i++ {
		e, ok := v.LogEntry(i)
		if !ok {
			return c.violation(StateMachineSafety, []raft.NodeID{ns.id},
				"%s commits index %d beyond its log; %s", ns.id, st.Commit, describe(ns.id, v, i))
		}
		c.committed.push(committedEntry{term: e.Term, hash: entryHash(e), by: ns.num, step: c.step, seenIn: st.Term})
		if e.Type == raft.EntryConfChange {
			c.confs = append(c.confs, c.confOf(e))
		}
	}
	return nil
}

// confOf is the configuration a committed conf entry sets: the one its
// leader recorded in it, else its change applied to the one before.
func (c *Checker) confOf(e raft.Entry) confPoint {
	cc, cs, err := raft.UnmarshalConfEntry(e.Data)
	if err != nil {
		return confPoint{index: e.Index}
	}
	if !cs.IsEmpty() {
		return confPoint{index: e.Index, conf: cs, known: true}
	}
	prev := c.confs[len(c.confs)-1]
	if !prev.known {
		return confPoint{index: e.Index}
	}
	next, err := prev.conf.Apply(cc)
	return confPoint{index: e.Index, conf: next, known: err == nil}
}

// checkSurvives is run when a node restarts: the last known committed
// entry must still be held by enough voters that no majority without it
// can form (a node holds it if its log has that index and term, or its
// snapshot covers it). A node that acknowledged an entry before it was
// durable, and lost it in the crash, breaks this.
//
// With changing configurations, the entry was stored by a majority of the
// configuration of the leader that committed it, and every later
// committed configuration was stored, with it, by a majority of its own;
// the configurations in force now are the last committed one and what
// each node holds in its log (a single-server change apart at most, so a
// majority of one blocks the majorities of the next). It is a loss only
// if it leaves no such configuration blocked.
func (c *Checker) checkSurvives(restarted raft.NodeID) error {
	k := c.committed.len()
	if k == 0 || c.committed.at(k-1).term == 0 {
		return nil
	}
	want := *c.committed.at(k - 1)
	holds := func(id raft.NodeID) bool {
		ns := c.nodes[id]
		if ns == nil || ns.view == nil {
			// A node not observed yet may hold it: count it, so as never
			// to report a loss we cannot see.
			return true
		}
		st := ns.view.Status()
		t, ok := ns.view.LogTerm(k)
		return (ok && t == want.term) || st.FirstIndex-1 > k
	}
	var confs [][]raft.NodeID
	if last := c.confs[len(c.confs)-1]; last.known {
		confs = append(confs, last.conf.Voters)
	}
	for _, ns := range c.states {
		if ns.view != nil {
			if cs := ns.view.Status().Conf; len(cs.Voters) > 0 {
				confs = append(confs, cs.Voters)
			}
		}
	}
	if len(confs) == 0 {
		confs = append(confs, c.ids) // nothing better: everyone seen
	}
	var worst []raft.NodeID
	held := 0
	for _, voters := range confs {
		n := 0
		for _, id := range voters {
			if holds(id) {
				n++
			}
		}
		// Without it at most len-n voters agree: not a majority.
		if len(voters)-n < len(voters)/2+1 {
			return nil
		}
		if worst == nil {
			worst, held = voters, n
		}
	}
	ns := c.nodes[restarted]
	return c.violation(CommittedNeverLost, []raft.NodeID{restarted, c.ids[want.by]},
		"after %s restarted only %d of the voters %v hold committed index %d (term %d, committed by %s at step %d); %s",
		restarted, held, worst, k, want.term, c.ids[want.by], want.step, describe(restarted, ns.view, k))
}
