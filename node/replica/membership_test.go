package replica

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
)

// fakeBook records what a replica tells its transport about peers.
type fakeBook struct{ addrs map[raft.NodeID]string }

type bookSender struct {
	queue
	book *fakeBook
}

func (b bookSender) SetPeer(id raft.NodeID, addr string) error {
	b.book.addrs[id] = addr
	return nil
}

func (b bookSender) RemovePeer(id raft.NodeID) { delete(b.book.addrs, id) }

func (c *testCluster) book(id raft.NodeID) *fakeBook {
	if c.books[id] == nil {
		c.books[id] = &fakeBook{addrs: map[raft.NodeID]string{}}
	}
	return c.books[id]
}

// addNode boots a new node with an empty disk and no configuration.
func (c *testCluster) addNode(id raft.NodeID) {
	c.ids = append(c.ids, id)
	c.disks[id] = &memstore.Store{}
	c.join[id] = true
	c.boot(id)
}

// change runs a membership change at a node until it is answered.
func (c *testCluster) change(at raft.NodeID, cc raft.ConfChange) MembershipResponse {
	c.t.Helper()
	var got *MembershipResponse
	c.reps[at].ChangeMembership(cc, func(r MembershipResponse) { got = &r })
	c.process(at)
	for i := 0; got == nil && i < 200; i++ {
		c.flush()
		c.tick(1)
	}
	if got == nil {
		c.t.Fatalf("no answer to %+v at %s", cc, at)
	}
	return *got
}

func (c *testCluster) transfer(at, to raft.NodeID) error {
	c.t.Helper()
	var got error
	answered := false
	c.reps[at].TransferLeadership(to, func(err error) { got, answered = err, true })
	c.process(at)
	for i := 0; !answered && i < 200; i++ {
		c.flush()
		c.tick(1)
	}
	if !answered {
		c.t.Fatalf("no answer to the transfer to %s at %s", to, at)
	}
	return got
}

func addLearner(id raft.NodeID) raft.ConfChange {
	return raft.ConfChange{Type: raft.ConfAddLearner, Node: id, Context: []byte("addr-" + id)}
}

func ids(ms []Member) []raft.NodeID {
	out := []raft.NodeID{}
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestMembershipLifecycle(t *testing.T) { bothWritePaths(t, testMembershipLifecycle) }

// A learner joins with an empty disk and catches up by snapshot, is
// promoted, a voter is removed, and its ID can never come back; the
// errors of the API along the way; all of it survives a restart.
func testMembershipLifecycle(t *testing.T, async bool) {
	c := newTestCluster(t, async, Unsafe{})
	c.snapshot = 20
	for _, id := range c.ids {
		c.boot(id)
	}
	l := c.settle()
	for i := range 50 {
		c.do(l, Request{Op: OpWrite, Key: fmt.Sprint("k", i%5), Value: int64(i)})
	}
	c.addNode("n4")
	c.tick(5)
	if st := c.reps["n4"].Status(); st.Role == "leader" || len(st.Voters) != 0 {
		t.Fatalf("joining node before it was added: %+v", st)
	}

	if r := c.change(l, addLearner("n4")); r.Err != nil {
		t.Fatalf("add learner n4: %v", r.Err)
	}
	c.tick(20)
	if st := c.reps["n4"].Stats(); st.Restores == 0 {
		t.Fatalf("the learner caught up without a snapshot: leader %+v learner %+v %+v", c.reps[l].Status(), c.reps["n4"].Status(), c.reps["n4"].Stats())
	}
	for i := range 5 {
		want, _ := c.reps[l].Get(fmt.Sprint("k", i))
		if got, _ := c.reps["n4"].Get(fmt.Sprint("k", i)); got != want {
			t.Errorf("k%d: learner %d leader %d", i, got, want)
		}
	}
	for _, id := range c.ids {
		if id != "n4" && c.books[id].addrs["n4"] != "addr-n4" {
			t.Errorf("%s's transport was not told n4's address: %v", id, c.books[id].addrs)
		}
		if st := c.reps[id].Status(); !slices.Equal(st.Learners, []raft.NodeID{"n4"}) || len(st.Voters) != 3 {
			t.Errorf("%s: voters %v learners %v after the add", id, st.Voters, st.Learners)
		}
	}

	// Refusals.
	for _, tc := range []struct {
		at   raft.NodeID
		cc   raft.ConfChange
		want error
	}{
		{l, addLearner("n4"), ErrMemberExists},
		{l, raft.ConfChange{Type: raft.ConfPromote, Node: "n9"}, ErrUnknownMember},
		{l, raft.ConfChange{Type: raft.ConfRemove, Node: "n9"}, ErrUnknownMember},
		{l, raft.ConfChange{Type: raft.ConfAddLearner, Node: "n5"}, ErrBadChange}, // no address
		{l, raft.ConfChange{Type: 9, Node: "n5"}, ErrBadChange},
		{l, raft.ConfChange{Type: raft.ConfPromote}, ErrBadChange},
		{l, raft.ConfChange{Type: raft.ConfAddLearner, Node: raft.NodeID(strings.Repeat("n", 256)), Context: []byte("a")}, ErrBadChange},
		{follower(c, l), addLearner("n5"), ErrNotLeader},
	} {
		if r := c.change(tc.at, tc.cc); !errors.Is(r.Err, tc.want) {
			t.Errorf("%+v at %s: %v, want %v", tc.cc, tc.at, r.Err, tc.want)
		}
	}
	// One change at a time: the second is refused while the first is
	// only proposed.
	var first, second *MembershipResponse
	c.reps[l].ChangeMembership(addLearner("n5"), func(r MembershipResponse) { first = &r })
	c.reps[l].ChangeMembership(raft.ConfChange{Type: raft.ConfPromote, Node: "n4"}, func(r MembershipResponse) { second = &r })
	if second == nil || !errors.Is(second.Err, ErrChangeInProgress) {
		t.Fatalf("second change while one is pending: %+v", second)
	}
	c.process(l)
	for i := 0; first == nil && i < 100; i++ {
		c.tick(1)
	}
	if first == nil || first.Err != nil {
		t.Fatalf("add n5: %+v", first)
	}
	// n5 never started: it stays a learner and costs no quorum.

	if r := c.change(l, raft.ConfChange{Type: raft.ConfPromote, Node: "n4"}); r.Err != nil {
		t.Fatalf("promote n4: %v", r.Err)
	}
	victim := follower(c, l)
	if victim == "n4" {
		victim = "n3"
	}
	if r := c.change(l, raft.ConfChange{Type: raft.ConfRemove, Node: victim}); r.Err != nil {
		t.Fatalf("remove %s: %v", victim, r.Err)
	}
	c.tick(5)
	if r := c.change(l, addLearner(victim)); !errors.Is(r.Err, ErrIDReused) {
		t.Fatalf("re-adding removed %s: %v, want ErrIDReused", victim, r.Err)
	}
	m := c.reps[l].Members()
	wantVoters := slices.DeleteFunc([]raft.NodeID{"n1", "n2", "n3", "n4"}, func(id raft.NodeID) bool { return id == victim })
	if !slices.Equal(ids(m.Voters), wantVoters) || !slices.Equal(ids(m.Learners), []raft.NodeID{"n5"}) ||
		!slices.Equal(m.Removed, []raft.NodeID{victim}) {
		t.Fatalf("members %+v, want voters %v learners [n5] removed [%s]", m, wantVoters, victim)
	}
	for _, mem := range append(m.Voters, m.Learners...) {
		if (mem.ID == "n4" || mem.ID == "n5") && mem.Addr != "addr-"+string(mem.ID) {
			t.Errorf("member %s has address %q", mem.ID, mem.Addr)
		}
	}
	if _, ok := c.books[l].addrs[victim]; ok {
		t.Errorf("the leader's transport still has removed %s", victim)
	}

	// Writes still commit with the new majority; the new voter may lead.
	if err := c.transfer(l, "n4"); err != nil {
		t.Fatalf("transfer to n4: %v", err)
	}
	if got := c.leader(); got != "n4" {
		t.Fatalf("leader after transfer %s, want n4", got)
	}
	for i := range 30 {
		if r := c.do("n4", Request{Op: OpWrite, Key: "after", Value: int64(i)}); r.Outcome != OK {
			t.Fatalf("write after the changes: %+v", r)
		}
	}

	// The address book and removed IDs survive a restart (from the
	// snapshot and the log).
	c.tick(5)
	survivor := wantVoters[0]
	if survivor == "n4" {
		survivor = wantVoters[1]
	}
	before := c.reps[survivor].Members()
	c.crash(survivor)
	c.books[survivor] = nil
	c.boot(survivor)
	if got := c.reps[survivor].Members(); !membersEqual(got, before) {
		t.Fatalf("%s after restart: %+v, before %+v", survivor, got, before)
	}
	if c.books[survivor].addrs["n4"] != "addr-n4" {
		t.Errorf("restarted %s did not tell its transport n4's address: %v", survivor, c.books[survivor].addrs)
	}
	if r := c.change("n4", addLearner(victim)); !errors.Is(r.Err, ErrIDReused) {
		t.Fatalf("re-adding removed %s on the new leader: %v", victim, r.Err)
	}
}

func membersEqual(a, b Members) bool {
	eq := func(x, y []Member) bool { return slices.Equal(x, y) }
	return eq(a.Voters, b.Voters) && eq(a.Learners, b.Learners) && slices.Equal(a.Removed, b.Removed)
}

func TestTransferErrors(t *testing.T) {
	c := newTestCluster(t, false, Unsafe{})
	l := c.settle()
	f := follower(c, l)
	for _, tc := range []struct {
		at, to raft.NodeID
		want   error
	}{
		{f, l, ErrNotLeader},
		{l, "n9", ErrUnknownMember},
		{l, "", ErrBadChange},
	} {
		if err := c.transfer(tc.at, tc.to); !errors.Is(err, tc.want) {
			t.Errorf("transfer to %q at %s: %v, want %v", tc.to, tc.at, err, tc.want)
		}
	}
	if err := c.transfer(l, l); err != nil || c.leader() != l {
		t.Errorf("transfer to itself: %v, leader %s", err, c.leader())
	}
	if r := c.change(l, addLearner("n4")); r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := c.transfer(l, "n4"); !errors.Is(err, ErrNotVoter) {
		t.Errorf("transfer to a learner: %v, want ErrNotVoter", err)
	}
	// A target that cannot be reached: the core abandons the transfer
	// after an election timeout and the old leader keeps leading.
	c.cut[f] = true
	if err := c.transfer(l, f); !errors.Is(err, ErrAborted) || c.leader() != l {
		t.Errorf("transfer to unreachable %s: %v, leader %s; want ErrAborted and %s still leading", f, err, c.leader(), l)
	}
	if r := c.do(l, Request{Op: OpWrite, Key: "k", Value: 1}); r.Outcome != OK {
		t.Errorf("write after an abandoned transfer: %+v", r)
	}
	c.cut[f] = false
	c.tick(10)
	if err := c.transfer(l, f); err != nil || c.leader() != f {
		t.Errorf("transfer to %s: %v, leader %s", f, err, c.leader())
	}
}

func TestRemoveLastVoter(t *testing.T) {
	c := newTestCluster(t, false, Unsafe{})
	c.ids = []raft.NodeID{"n1"}
	c.reps = map[raft.NodeID]*Replica{}
	c.boot("n1")
	if l := c.settle(); l != "n1" {
		t.Fatalf("leader %s", l)
	}
	if r := c.change("n1", raft.ConfChange{Type: raft.ConfRemove, Node: "n1"}); !errors.Is(r.Err, ErrLastVoter) {
		t.Fatalf("removing the last voter: %v, want ErrLastVoter", r.Err)
	}
	if !maps.Equal(c.books["n1"].addrs, map[raft.NodeID]string{}) {
		t.Errorf("book %v", c.books["n1"].addrs)
	}
}

func TestUnsafeConfigBeforeNoop(t *testing.T) {
	u, ru, err := ParseUnsafe("config-before-noop")
	if err != nil || u != (Unsafe{}) || !ru.ConfigBeforeNoop {
		t.Fatalf("ParseUnsafe: %+v %+v %v", u, ru, err)
	}
	if !slices.Contains(UnsafeModes(), "config-before-noop") {
		t.Fatal("config-before-noop not listed")
	}
}
