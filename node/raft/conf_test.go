package raft

import (
	"errors"
	"reflect"
	"testing"
)

// The encodings of configurations, on the wire and on disk: round trips,
// the snapshot files written before learners existed, and garbage refused
// with ErrCorrupt, never a panic.

func TestConfCodecRoundTrip(t *testing.T) {
	cs := ConfState{Voters: []NodeID{"n1", "n2"}, Learners: []NodeID{"n3"}}
	cc := ConfChange{Type: ConfAddLearner, Node: "n3", Context: []byte("10.0.0.3:7000")}
	gotCC, gotCS, err := UnmarshalConfEntry(marshalConfEntry(cc, cs))
	if err != nil || !reflect.DeepEqual(gotCC, cc) || !gotCS.Equal(cs) {
		t.Fatalf("conf entry: %v %v %v", gotCC, gotCS, err)
	}
	// A bare proposal carries no configuration.
	if gotCC, err := UnmarshalConfChange(cc.Marshal()); err != nil || !reflect.DeepEqual(gotCC, cc) {
		t.Fatalf("bare change: %v %v", gotCC, err)
	}
	snap := Snapshot{Meta: SnapshotMeta{Index: 7, Term: 2, Conf: cs}, Data: []byte("img")}
	m := Message{Type: MsgSnap, From: "n1", To: "n3", Term: 2, Snapshot: &snap, Context: []byte("c")}
	gotM, err := UnmarshalMessage(MarshalMessage(nil, m))
	if err != nil || !reflect.DeepEqual(gotM, m) {
		t.Fatalf("message: %+v %v", gotM, err)
	}
	gotS, err := UnmarshalSnapshot(MarshalSnapshot(nil, snap))
	if err != nil || !reflect.DeepEqual(gotS, snap) {
		t.Fatalf("snapshot: %+v %v", gotS, err)
	}
	// A snapshot file from before learners: index, term, members, data.
	enc := encoder{}
	enc.uvarint(7)
	enc.uvarint(2)
	enc.ids([]NodeID{"n1", "n2"})
	enc.bytes([]byte("img"))
	old, err := UnmarshalSnapshot(enc.b)
	if err != nil || !old.Meta.Conf.Equal(ConfState{Voters: []NodeID{"n1", "n2"}}) {
		t.Fatalf("old snapshot file: %+v %v", old, err)
	}
	e := Entry{Term: 2, Index: 9, Type: EntryConfChange, Data: marshalConfEntry(cc, cs)}
	if got, err := UnmarshalEntry(MarshalEntry(nil, e)); err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("entry: %+v %v", got, err)
	}
}

func TestConfCodecRejectsGarbage(t *testing.T) {
	cs := ConfState{Voters: []NodeID{"n1", "n2"}, Learners: []NodeID{"n3"}}
	valid := marshalConfEntry(ConfChange{Type: ConfPromote, Node: "n3", Context: []byte("x")}, cs)
	// Every strict prefix but the one ending after the change is broken.
	bare := len(ConfChange{Type: ConfPromote, Node: "n3", Context: []byte("x")}.Marshal())
	for i := 0; i < len(valid); i++ {
		if i == bare {
			continue
		}
		if _, _, err := UnmarshalConfEntry(valid[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("prefix of %d bytes: %v", i, err)
		}
	}
	for name, b := range map[string][]byte{
		"format":            {9, 1, 2, 'n', '1', 0},
		"type 0":            {1, 0, 2, 'n', '1', 0},
		"type 4":            {1, 4, 2, 'n', '1', 0},
		"no node":           {1, 1, 0, 0},
		"unsorted voters":   marshalConfEntry(ConfChange{Type: ConfRemove, Node: "n1"}, ConfState{Voters: []NodeID{"n2", "n1"}}),
		"voter and learner": marshalConfEntry(ConfChange{Type: ConfRemove, Node: "n1"}, ConfState{Voters: []NodeID{"n1"}, Learners: []NodeID{"n1"}}),
		"trailing":          append(append([]byte(nil), valid...), 0),
	} {
		if _, _, err := UnmarshalConfEntry(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := UnmarshalEntry(MarshalEntry(nil, Entry{Type: EntryConfChange + 1})); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown entry type: %v", err)
	}
}

func FuzzUnmarshalConfEntry(f *testing.F) {
	f.Add(marshalConfEntry(ConfChange{Type: ConfAddLearner, Node: "n4"}, ConfState{Voters: []NodeID{"n1"}, Learners: []NodeID{"n4"}}))
	f.Add(ConfChange{Type: ConfRemove, Node: "n2"}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, cs, err := UnmarshalConfEntry(b)
		if err != nil {
			return
		}
		if !cs.valid() {
			t.Fatalf("decoded an invalid configuration %v", cs)
		}
		if cs.IsEmpty() {
			if again, err := UnmarshalConfChange(cc.Marshal()); err != nil || !reflect.DeepEqual(again, cc) {
				t.Fatalf("round trip of %v: %v %v", cc, again, err)
			}
		}
	})
}

// Figure 2 with §4.1: a conf entry an append carries must decode, and a
// configuration change can come from no follower's forwarded proposal
// (it would skip the leader's checks).
func TestSection4_1MalformedConfEntries(t *testing.T) {
	rn := malformedFollower(t)
	bad := Entry{Term: 1, Index: 1, Type: EntryConfChange, Data: []byte{1, 9}}
	stepNoPanic(t, rn, Message{Type: MsgApp, From: "n1", To: "n2", Term: 1, Entries: []Entry{bad}})
	if st := rn.Status(); st.LastIndex != 0 {
		t.Fatalf("undecodable conf entry appended: %+v", st)
	}
	leader, err := NewRawNode(Config{ID: "n1", Peers: []NodeID{"n1"}, ElectionTick: 10, HeartbeatTick: 1})
	if err != nil {
		t.Fatal(err)
	}
	leader.Campaign()
	for leader.HasReady() {
		leader.Ready()
		leader.Advance()
	}
	before := leader.Status()
	cc := Entry{Type: EntryConfChange, Data: ConfChange{Type: ConfAddLearner, Node: "n9"}.Marshal()}
	stepNoPanic(t, leader, Message{Type: MsgProp, From: "n2", Entries: []Entry{cc}})
	if st := leader.Status(); st.LastIndex != before.LastIndex || len(st.Conf.Learners) > 0 {
		t.Fatalf("forwarded conf change appended: %+v", st)
	}
}
