package raft

import (
	"errors"
	"fmt"
	"slices"
)

// Errors of membership changes and leadership transfer.
var (
	// ErrConfChangePending: an earlier configuration change in the
	// leader's log is not committed yet; one change at a time keeps every
	// two consecutive configurations' majorities overlapping (thesis §4.1).
	ErrConfChangePending = errors.New("raft: a configuration change is already in progress")
	// ErrNoCommitInTerm: the leader has not committed an entry of its own
	// term yet. A change proposed before that can overlap with a change of
	// an earlier leader and elect two leaders in one term (the 2015 fix to
	// single-server changes).
	ErrNoCommitInTerm = errors.New("raft: no entry of the leader's term committed yet")
	ErrUnknownMember  = errors.New("raft: not a member")
	ErrMemberExists   = errors.New("raft: already a member")
	ErrLastVoter      = errors.New("raft: cannot remove the last voter")
	ErrNotLeader      = errors.New("raft: not the leader")
	ErrNotVoter       = errors.New("raft: not a voter")
)

// ConfChangeType is what a single-server change does.
type ConfChangeType uint8

const (
	// ConfAddLearner adds a node that receives the log but does not vote.
	ConfAddLearner ConfChangeType = iota + 1
	// ConfPromote makes a learner a voter.
	ConfPromote
	// ConfRemove removes a voter or a learner.
	ConfRemove
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfAddLearner:
		return "add-learner"
	case ConfPromote:
		return "promote"
	case ConfRemove:
		return "remove"
	}
	return fmt.Sprintf("ConfChangeType(%d)", uint8(t))
}

// ConfChange is a single-server membership change (thesis §4.1), the data
// of an EntryConfChange entry.
type ConfChange struct {
	Type ConfChangeType
	Node NodeID
	// Context is opaque to the core (raftnode puts the peer address there).
	Context []byte
}

// ConfState is a configuration: Voters decide elections and commits,
// Learners only receive the log. Both sorted, disjoint.
type ConfState struct {
	Voters, Learners []NodeID
}

// IsVoter reports whether id votes in cs.
func (cs ConfState) IsVoter(id NodeID) bool { return slices.Contains(cs.Voters, id) }

// IsLearner reports whether id is a learner in cs.
func (cs ConfState) IsLearner(id NodeID) bool { return slices.Contains(cs.Learners, id) }

// IsMember reports whether id is a voter or a learner in cs.
func (cs ConfState) IsMember(id NodeID) bool { return cs.IsVoter(id) || cs.IsLearner(id) }

// IsEmpty reports whether cs names nobody (a joining node's configuration
// before it learned one).
func (cs ConfState) IsEmpty() bool { return len(cs.Voters) == 0 && len(cs.Learners) == 0 }

// Equal reports whether both configurations name the same roles.
func (cs ConfState) Equal(o ConfState) bool {
	return slices.Equal(cs.Voters, o.Voters) && slices.Equal(cs.Learners, o.Learners)
}

func (cs ConfState) String() string {
	return fmt.Sprintf("voters=%v learners=%v", cs.Voters, cs.Learners)
}

func (cs ConfState) clone() ConfState {
	return ConfState{Voters: slices.Clone(cs.Voters), Learners: slices.Clone(cs.Learners)}
}

// Apply returns the configuration cc makes of cs, or why cc does not fit
// it (ErrUnknownMember, ErrMemberExists, ErrLastVoter).
func (cs ConfState) Apply(cc ConfChange) (ConfState, error) {
	out := cs.clone()
	switch cc.Type {
	case ConfAddLearner:
		if cs.IsMember(cc.Node) {
			return cs, fmt.Errorf("add learner %s: %w", cc.Node, ErrMemberExists)
		}
		out.Learners = insertSorted(out.Learners, cc.Node)
	case ConfPromote:
		if cs.IsVoter(cc.Node) {
			return cs, fmt.Errorf("promote %s: %w", cc.Node, ErrMemberExists)
		}
		if !cs.IsLearner(cc.Node) {
			return cs, fmt.Errorf("promote %s: %w", cc.Node, ErrUnknownMember)
		}
		out.Learners = deleteID(out.Learners, cc.Node)
		out.Voters = insertSorted(out.Voters, cc.Node)
	case ConfRemove:
		switch {
		case cs.IsLearner(cc.Node):
			out.Learners = deleteID(out.Learners, cc.Node)
		case !cs.IsVoter(cc.Node):
			return cs, fmt.Errorf("remove %s: %w", cc.Node, ErrUnknownMember)
		case len(cs.Voters) == 1:
			return cs, fmt.Errorf("remove %s: %w", cc.Node, ErrLastVoter)
		default:
			out.Voters = deleteID(out.Voters, cc.Node)
		}
	default:
		return cs, fmt.Errorf("raft: unknown conf change type %d", cc.Type)
	}
	return out, nil
}

func insertSorted(ids []NodeID, id NodeID) []NodeID {
	i, _ := slices.BinarySearch(ids, id)
	return slices.Insert(ids, i, id)
}

func deleteID(ids []NodeID, id NodeID) []NodeID {
	return slices.DeleteFunc(ids, func(x NodeID) bool { return x == id })
}

// confFormat versions the encoding of a conf change.
const confFormat = 1

// Marshal encodes cc as the Data of an EntryConfChange proposal.
func (cc ConfChange) Marshal() []byte {
	enc := encoder{}
	enc.byte(confFormat)
	enc.byte(byte(cc.Type))
	enc.str(string(cc.Node))
	enc.bytes(cc.Context)
	return enc.b
}

// marshalConfEntry is the Data of a conf entry in the log: the change, then
// the configuration it produced on the leader that appended it. A node
// that joined with no configuration learns the whole configuration from
// the first such entry it receives; a delta alone would say nothing of the
// members before it.
func marshalConfEntry(cc ConfChange, cs ConfState) []byte {
	enc := encoder{b: cc.Marshal()}
	enc.ids(cs.Voters)
	enc.ids(cs.Learners)
	return enc.b
}

// UnmarshalConfChange decodes the Data of an EntryConfChange entry (or
// proposal).
func UnmarshalConfChange(b []byte) (ConfChange, error) {
	cc, _, err := UnmarshalConfEntry(b)
	return cc, err
}

// UnmarshalConfEntry decodes the Data of an EntryConfChange entry from a
// log: the change, and the configuration it produced (recorded by the
// leader that appended it; empty for bare ConfChange.Marshal data).
func UnmarshalConfEntry(b []byte) (ConfChange, ConfState, error) {
	d := decoder{b: b}
	var cc ConfChange
	var cs ConfState
	if v := d.byte(); d.err == nil && v != confFormat {
		d.fail("conf change format %d, want %d", v, confFormat)
	}
	cc.Type = ConfChangeType(d.byte())
	if d.err == nil && (cc.Type < ConfAddLearner || cc.Type > ConfRemove) {
		d.fail("unknown conf change type %d", cc.Type)
	}
	cc.Node = NodeID(d.str(maxIDLen))
	if d.err == nil && cc.Node == None {
		d.fail("conf change without a node")
	}
	cc.Context = d.bytes(len(d.b))
	if d.err == nil && d.off < len(d.b) {
		cs.Voters = d.ids()
		cs.Learners = d.ids()
		if d.err == nil && !cs.valid() {
			d.fail("configuration not sorted and disjoint: %v", cs)
		}
	}
	if err := d.finish(); err != nil {
		return ConfChange{}, ConfState{}, err
	}
	return cc, cs, nil
}

// valid reports whether both lists are sorted, free of duplicates and of
// empty IDs, and disjoint.
func (cs ConfState) valid() bool {
	for _, l := range [][]NodeID{cs.Voters, cs.Learners} {
		for i, id := range l {
			if id == None || (i > 0 && l[i-1] >= id) {
				return false
			}
		}
	}
	for _, id := range cs.Learners {
		if _, ok := slices.BinarySearch(cs.Voters, id); ok {
			return false
		}
	}
	return true
}
