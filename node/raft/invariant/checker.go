// Package invariant checks the safety properties of Raft (paper Figure 3,
// thesis §3.6) on a running cluster of node/raft cores, incrementally:
// after every step of any node the caller hands the node's read-only view
// to Observe, which looks only at what changed since that node's last
// observation. One implementation serves node/raft's randomized and
// scripted tests and the simulator.
//
// The checker keeps, across the whole run:
//   - the leader of every term seen (Election Safety);
//   - for every log index, each distinct (term, previous term, data hash)
//     any node ever held there (Log Matching: one entry per index and term,
//     and, by induction over the previous term, one prefix);
//   - the known-committed log: index → term and data hash, extended
//     whenever some node's commit index passes it (State Machine Safety,
//     Leader Completeness, committed entries surviving crashes);
//   - per node, the highest term it spoke in and the last vote it granted
//     (durable state never goes back), and its log's terms as runs, so an
//     unchanged log costs O(1) to confirm.
//
// How a driver (the simulator, the tests) calls it, from one goroutine:
//
//	chk := invariant.New(ids...)
//	// after every step of a node (Tick, Step, Propose, ReadIndex,
//	// Campaign, Compact), once its Ready is handled; a *raft.RawNode is a
//	// View, and a restarted node is simply a new one:
//	err := chk.Observe(id, rawNode)
//	// for every message a node emits:
//	err = chk.Sent(m)
//	// for every committed entry a node applies (optional):
//	err = chk.Applied(id, entry)
//	// ReadIndex: when node id is asked, and when it answers or drops it:
//	chk.ReadStarted(id, ctx)
//	err = chk.ReadServed(id, ctx, readState.Index)
//	chk.ReadAbandoned(id, ctx)
//
// Every error is a *Violation. The run is broken from the first one on;
// later calls may report its consequences.
package invariant

import (
	"fmt"
	"slices"
	"strings"

	"github.com/raftcheck/raftcheck/node/raft"
)

// View is the read-only state of one node. *raft.RawNode implements it.
// Views are compared to notice restarts: use a pointer type.
type View interface {
	Status() raft.Status
	LogTerm(i uint64) (uint64, bool)
	LogEntry(i uint64) (raft.Entry, bool)
}

// The invariants, as named in violations.
const (
	ElectionSafety      = "Election Safety (§5.2)"
	LogMatching         = "Log Matching (§5.3)"
	LeaderCompleteness  = "Leader Completeness (§5.4)"
	StateMachineSafety  = "State Machine Safety (§5.4.3)"
	DurableState        = "Durable term and vote (Figure 2, §5.2)"
	LinearizableRead    = "ReadIndex covers prior commits (thesis §6.4)"
	CommittedNeverLost  = "Committed entries survive (§5.4)"
	AppliedBeyondCommit = "Applied only committed entries (§5.3)"
)

// Violation is a broken invariant: which, at which observation, between
// which nodes, with their terms and the log tails around the point.
type Violation struct {
	Invariant string
	// Step counts Observe calls: the one that found the violation.
	Step   uint64
	Nodes  []raft.NodeID
	Detail string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("%s broken at step %d (nodes %v): %s", v.Invariant, v.Step, v.Nodes, v.Detail)
}

// Checker holds what the invariants need to remember. It is not safe for
// concurrent use; the simulator and the tests call it from one goroutine.
type Checker struct {
	step    uint64
	nodes   map[raft.NodeID]*nodeState
	leaders map[uint64]raft.NodeID // term → its leader
	seen    registry
	// confs are the configurations of the known-committed log, in index
	// order: confs[0] is the bootstrap one given to New (unknown when none
	// was given), then one per committed conf entry; unknown where a
	// snapshot hid the entries.
	confs []confPoint
	// ids numbers the nodes seen, for compact references; states[i] is
	// nodes[ids[i]].
	ids    []raft.NodeID
	states []*nodeState
	// committed.at(i-1) is the entry known committed at index i.
	committed chunked[committedEntry]
	// reads maps a read to the committed length when it began.
	reads map[readKey]uint64
}

// readKey names a read: contexts are unique per node only.
type readKey struct {
	node raft.NodeID
	ctx  string
}

// confPoint is the configuration set at index (known false: hidden).
type confPoint struct {
	index uint64
	conf  raft.ConfState
	known bool
}

type committedEntry struct {
	term uint64 // 0: unknown (behind a snapshot the checker never saw the entries of)
	hash uint64 // 0: unknown data (known only from snapshot metadata)
	step uint64 // the observation that found it committed
	by   uint32 // the node whose commit index showed it (Checker.ids)
	// seenIn is that node's term then: the entry was committed in that
	// term or an earlier one, so every leader of a later term has it.
	seenIn uint64
}

// nodeState is what the checker remembers of one node.
type nodeState struct {
	id   raft.NodeID
	num  uint32
	view View
	// spokeTerm is the highest term the node stamped on a message;
	// votedFor is whom it last granted a vote, in votedTerm.
	spokeTerm, votedTerm uint64
	votedFor             raft.NodeID
	// ledTerm is the last term the node was seen leading.
	ledTerm uint64
	// runs is the node's log as last checked: its terms as maximal runs,
	// covering up to index last; entries before runs[0].first are either
	// compacted or were never seen.
	runs []run
	last uint64
}

type run struct{ first, term uint64 }

// New returns a checker for a fresh cluster whose bootstrap voters are
// members. With no members named, and no node reporting a configuration,
// the nodes observed so far stand for the cluster.
func New(members ...raft.NodeID) *Checker {
	boot := raft.ConfState{Voters: slices.Clone(members)}
	slices.Sort(boot.Voters)
	c := &Checker{nodes: map[raft.NodeID]*nodeState{}, leaders: map[uint64]raft.NodeID{},
		reads: map[readKey]uint64{}, confs: []confPoint{{conf: boot, known: len(members) > 0}}}
	for _, id := range members {
		c.node(id)
	}
	return c
}

// Observe checks the invariants after node id took a step (a Tick, Step,
// Propose, ReadIndex or Campaign, with its Ready handled or not: call it
// consistently). A different View for an id than the last one is taken as
// that node's restart from its durable state. It returns the first
// violation found, as a *Violation, or nil.
func (c *Checker) Observe(id raft.NodeID, v View) error {
	c.step++
	st := v.Status()
	ns := c.node(id)
	if ns.view != v {
		restart := ns.view != nil
		ns.view, ns.runs, ns.last = v, nil, 0
		if restart {
			if err := c.checkSurvives(id); err != nil {
				return err
			}
		}
	}
	if err := c.checkDurable(ns, st); err != nil {
		return err
	}
	newLeader := false
	if st.State == raft.StateLeader && st.Term != ns.ledTerm {
		ns.ledTerm = st.Term
		if l, ok := c.leaders[st.Term]; !ok {
			c.leaders[st.Term] = id
			newLeader = true
		} else if l != id {
			return c.violation(ElectionSafety, []raft.NodeID{l, id},
				"term %d has two leaders, %s and %s", st.Term, l, id)
		}
	}
	from, err := c.syncLog(ns, st)
	if err != nil {
		return err
	}
	if err := c.checkCommit(ns, st, from); err != nil {
		return err
	}
	if newLeader {
		return c.checkLeaderComplete(ns, st)
	}
	return nil
}

func (c *Checker) node(id raft.NodeID) *nodeState {
	// A scan of a handful of ids, usually the very strings the driver
	// passes, beats hashing one.
	if len(c.ids) <= 8 {
		for i, known := range c.ids {
			if known == id {
				return c.states[i]
			}
		}
	}
	ns := c.nodes[id]
	if ns == nil {
		ns = &nodeState{id: id, num: uint32(len(c.ids))}
		c.nodes[id] = ns
		c.ids = append(c.ids, id)
		c.states = append(c.states, ns)
	}
	return ns
}

// checkDurable: a node never is in a term lower than one it spoke in.
// The term is persisted before any message stamped with it leaves, so
// this holds across restarts. (What a node held only in memory may be
// lost in a crash: comparing with earlier observations would be wrong.)
func (c *Checker) checkDurable(ns *nodeState, st raft.Status) error {
	if st.Term < ns.spokeTerm {
		return c.violation(DurableState, []raft.NodeID{ns.id},
			"%s is in term %d but sent messages in term %d", ns.id, st.Term, ns.spokeTerm)
	}
	return nil
}

// Sent checks a message a node sent: call it for every message a node
// emits, when it leaves (whether or not it arrives). A granted vote is
// durable before it is sent, so a node that grants two candidates votes
// in one term has lost its vote (Figure 2: votedFor is persistent).
func (c *Checker) Sent(m raft.Message) error {
	ns := c.node(m.From)
	switch m.Type {
	case raft.MsgPreVote, raft.MsgPreVoteResp, raft.MsgProp, raft.MsgReadIndex:
		// Pre-votes carry a future term; forwarded requests none.
		return nil
	case raft.MsgVoteResp:
		if !m.Reject {
			if ns.votedTerm == m.Term && ns.votedFor != m.To {
				return c.violation(DurableState, []raft.NodeID{ns.id, ns.votedFor, m.To},
					"%s granted its vote in term %d to %s and then to %s", ns.id, m.Term, ns.votedFor, m.To)
			}
			ns.votedTerm, ns.votedFor = m.Term, m.To
		}
	}
	ns.spokeTerm = max(ns.spokeTerm, m.Term)
	return nil
}

// checkLeaderComplete: a new leader's log holds every entry known
// committed; since Log Matching is checked separately, agreeing on the
// term of the last committed index implies agreeing on everything before.
func (c *Checker) checkLeaderComplete(ns *nodeState, st raft.Status) error {
	// Leader Completeness binds a leader to what was committed before its
	// term. A deposed leader that has not heard of its successors may lack
	// later commits: find the last entry known committed in an earlier
	// term than this leader's (the tail of later ones is short).
	k := c.committed.len()
	for k > 0 && c.committed.at(k-1).seenIn >= st.Term {
		k--
	}
	if k == 0 || k < st.FirstIndex-1 {
		return nil // the leader's snapshot covers it; checkCommit compared the snapshot
	}
	want := c.committed.at(k - 1)
	got, ok := ns.view.LogTerm(k)
	if ok && got == want.term {
		return nil
	}
	// Point at the first committed index the leader lacks.
	at := c.firstMismatch(ns.view, st.FirstIndex, k)
	cm := c.committed.at(at - 1)
	by := c.ids[cm.by]
	return c.violation(LeaderCompleteness, []raft.NodeID{ns.id, by},
		"%s leads term %d without index %d (term %d), committed by term %d (%s saw it at step %d); leader %s; committed %s",
		ns.id, st.Term, at, cm.term, cm.seenIn, by, cm.step, describe(ns.id, ns.view, at), c.committedTail(at))
}

// firstMismatch finds the lowest index in [lo, k] where v disagrees with
// the committed log (k if none is found below it).
func (c *Checker) firstMismatch(v View, lo, k uint64) uint64 {
	lo = max(lo, 1)
	for i := lo; i < k; i++ {
		want := c.committed.at(i - 1).term
		if got, ok := v.LogTerm(i); want != 0 && (!ok || got != want) {
			return i
		}
	}
	return k
}

// ReadStarted records that node id was asked a ReadIndex read with ctx:
// whatever is committed now, the read must see.
func (c *Checker) ReadStarted(id raft.NodeID, ctx []byte) {
	c.reads[readKey{id, string(ctx)}] = c.committed.len()
}

// ReadServed checks a read answered on node id at index (its
// raft.ReadState).
func (c *Checker) ReadServed(id raft.NodeID, ctx []byte, index uint64) error {
	k := readKey{id, string(ctx)}
	floor, ok := c.reads[k]
	if !ok {
		return nil // not announced with ReadStarted, or answered before
	}
	delete(c.reads, k)
	if index < floor {
		return c.violation(LinearizableRead, []raft.NodeID{id},
			"read %q answered on %s at index %d, but index %d was committed before it began", ctx, id, index, floor)
	}
	return nil
}

// ReadAbandoned forgets a read that will not be answered.
func (c *Checker) ReadAbandoned(id raft.NodeID, ctx []byte) {
	delete(c.reads, readKey{id, string(ctx)})
}

// Applied checks an entry node id handed to its state machine against the
// known-committed log. Optional: Observe already compares every node's
// committed prefix; this also catches a core that hands out more.
func (c *Checker) Applied(id raft.NodeID, e raft.Entry) error {
	if ns := c.node(id); e.Index > c.committed.len() {
		if ns.view == nil {
			return nil // never observed: nothing to judge it by yet
		}
		// The node's commit index may have moved in the step not yet
		// observed.
		if err := c.checkCommit(ns, ns.view.Status(), 0); err != nil {
			return err
		}
	}
	if e.Index > c.committed.len() {
		return c.violation(AppliedBeyondCommit, []raft.NodeID{id},
			"%s applied index %d (term %d), but only %d are known committed", id, e.Index, e.Term, c.committed.len())
	}
	want := c.committed.at(e.Index - 1)
	if (want.term != 0 && want.term != e.Term) || (want.hash != 0 && want.hash != entryHash(e)) {
		by := c.ids[want.by]
		return c.violation(StateMachineSafety, []raft.NodeID{id, by},
			"%s applied %d@%d, but %s committed %d@%d with other data", id, e.Index, e.Term, by, e.Index, want.term)
	}
	return nil
}

// Leaders returns how many terms had a leader (for reports).
func (c *Checker) Leaders() int { return len(c.leaders) }

// Committed returns the length of the known-committed log.
func (c *Checker) Committed() uint64 { return c.committed.len() }

func (c *Checker) violation(inv string, nodes []raft.NodeID, format string, args ...any) error {
	return &Violation{Invariant: inv, Step: c.step, Nodes: nodes, Detail: fmt.Sprintf(format, args...)}
}

// describe shows a node's term, role, commit and its log around index at.
func describe(id raft.NodeID, v View, at uint64) string {
	st := v.Status()
	var b strings.Builder
	fmt.Fprintf(&b, "%s(term %d %s commit %d log", id, st.Term, st.State, st.Commit)
	if snap := st.FirstIndex - 1; snap > 0 {
		t, _ := v.LogTerm(snap)
		fmt.Fprintf(&b, " snap %d@%d", snap, t)
	}
	lo := max(st.FirstIndex, 1)
	if at > lo+2 {
		lo = at - 2
	}
	if lo > st.FirstIndex {
		b.WriteString(" …")
	}
	for i := lo; i <= min(st.LastIndex, at+2); i++ {
		if t, ok := v.LogTerm(i); ok {
			fmt.Fprintf(&b, " %d@%d", i, t)
		}
	}
	if at+2 < st.LastIndex {
		fmt.Fprintf(&b, " … %d@?", st.LastIndex)
	}
	b.WriteString(")")
	return b.String()
}

func (c *Checker) committedTail(at uint64) string {
	var b strings.Builder
	k := c.committed.len()
	for i := max(at, 3) - 2; i <= min(k, at+2); i++ {
		if i > 0 {
			fmt.Fprintf(&b, " %d@%d", i, c.committed.at(i-1).term)
		}
	}
	if at+2 < k {
		fmt.Fprintf(&b, " … %d@%d", k, c.committed.at(k-1).term)
	}
	return strings.TrimSpace(b.String())
}
