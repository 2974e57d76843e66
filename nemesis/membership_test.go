package nemesis

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// members is a backend that keeps a configuration: each slot's
// incarnation and whether it is a voter. Adds fail while failAdds is set,
// as they do when the cluster has no leader.
type members struct {
	basic
	slots       []string
	voter       map[string]bool
	incarnation map[string]int
	ids         []string // every member ID ever given out
	leader      string
	failAdds    bool
}

func newMembers(slots []string) *members {
	m := &members{slots: slots, voter: map[string]bool{}, incarnation: map[string]int{}}
	for _, s := range slots {
		m.voter[s] = true
		m.ids = append(m.ids, MemberID(s, 0))
	}
	return m
}

func (m *members) Nodes() []string { return m.slots }

func (m *members) voters() int {
	n := 0
	for _, s := range m.slots {
		if m.voter[s] {
			n++
		}
	}
	return n
}

func (m *members) RemoveMember(ctx context.Context, slot string) error {
	if !m.voter[slot] {
		return errors.New("not a member")
	}
	m.voter[slot] = false
	return nil
}

func (m *members) AddMember(ctx context.Context, slot string) error {
	if m.voter[slot] {
		return errors.New("already a member")
	}
	if m.failAdds {
		return errors.New("no leader")
	}
	m.incarnation[slot]++
	id := MemberID(slot, m.incarnation[slot])
	if slices.Contains(m.ids, id) {
		return errors.New("member ID " + id + " reused")
	}
	m.ids = append(m.ids, id)
	m.voter[slot] = true
	return nil
}

func (m *members) TransferLeader(ctx context.Context, slot string) error {
	if !m.voter[slot] {
		return errors.New("not a voter")
	}
	m.leader = slot
	return nil
}

func (m *members) Removed() []string {
	var out []string
	for _, s := range m.slots {
		if !m.voter[s] {
			out = append(out, s)
		}
	}
	return out
}

func TestMemberID(t *testing.T) {
	for _, c := range []struct {
		inc  int
		want string
	}{{0, "n3"}, {1, "n3b"}, {2, "n3c"}, {25, "n3z"}, {26, "n3-26"}} {
		if got := MemberID("n3", c.inc); got != c.want {
			t.Errorf("MemberID(n3, %d) = %q, want %q", c.inc, got, c.want)
		}
	}
}

// The schedule never takes the voters below a majority of the original
// cluster, even when adds fail and leave slots removed; heal-all then
// brings the cluster back to its original number of voters, each slot
// re-added under a member ID never used before.
func TestMembershipScheduleKeepsAMajority(t *testing.T) {
	ctx := context.Background()
	for _, slots := range [][]string{five[:3], five} {
		m := newMembers(slots)
		s := NewSchedule([]string{"membership"}, slots, rand.New(rand.NewPCG(7, uint64(len(slots)))))
		rng := rand.New(rand.NewPCG(8, 9))
		seen := map[string]bool{}
		majority := len(slots)/2 + 1
		for i := range 400 {
			m.failAdds = rng.IntN(4) == 0
			fault, rec := s.Next(slots[rng.IntN(len(slots))])
			seen[fault.F+" "+fault.Name] = true
			err := Apply(ctx, m, fault)
			if err != nil && !strings.Contains(err.Error(), "no leader") && !strings.Contains(err.Error(), "already removed") &&
				!strings.Contains(err.Error(), "refused") && !strings.Contains(err.Error(), "not a voter") {
				t.Fatalf("%d slots, step %d: %s: unexpected error %v", len(slots), i, fault, err)
			}
			if m.voters() < majority {
				t.Fatalf("%d slots, step %d: %s left %d voters, fewer than a majority", len(slots), i, fault, m.voters())
			}
			switch fault.F {
			case "remove":
				if len(rec) != 1 || rec[0].F != "add" || !slices.Equal(rec[0].Nodes, fault.Nodes) {
					t.Fatalf("%s recovers with %v", fault, rec)
				}
			case "replace", "transfer-leader":
				if len(rec) != 0 {
					t.Fatalf("%s has a recovery %v; it is over once applied", fault, rec)
				}
			default:
				t.Fatalf("a membership schedule made %s", fault)
			}
			for _, a := range rec {
				_ = Apply(ctx, m, a) // may fail: the next heal-all makes up for it
			}
			if m.voters() < majority {
				t.Fatalf("%d slots, step %d: %v left %d voters", len(slots), i, rec, m.voters())
			}
			if i%50 == 49 {
				m.failAdds = false
				if err := HealAll(ctx, m); err != nil {
					t.Fatalf("heal-all: %v", err)
				}
				if m.voters() != len(slots) {
					t.Fatalf("%d slots: heal-all left %d voters (removed %v)", len(slots), m.voters(), m.Removed())
				}
			}
		}
		want := []string{"remove remove-one", "remove remove-leader", "replace replace-one", "replace replace-leader", "transfer-leader transfer-leader"}
		if len(slots) == 5 {
			want = append(want, "remove remove-minority")
		}
		for _, w := range want {
			if !seen[w] {
				t.Errorf("%d slots: 400 changes never included %q; saw %v", len(slots), w, seen)
			}
		}
		if len(m.ids) <= len(slots) {
			t.Errorf("%d slots: no slot was ever re-added", len(slots))
		}
	}
}

// A transfer goes to a node other than the leader.
func TestMembershipTransferAvoidsTheLeader(t *testing.T) {
	s := NewSchedule([]string{"membership"}, five[:3], rand.New(rand.NewPCG(1, 1)))
	for range 200 {
		if f, _ := s.Next("n2"); f.F == "transfer-leader" && f.Nodes[0] == "n2" {
			t.Fatalf("%s: a transfer to the leader itself", f)
		}
	}
}

func TestMembershipNeedsItsInterface(t *testing.T) {
	err := Apply(context.Background(), &basic{}, Action{F: "remove", Nodes: []string{"n1"}})
	if err == nil || !strings.Contains(err.Error(), `cannot take fault "remove"`) {
		t.Errorf("remove on a basic backend: %v; want a cannot-take error", err)
	}
	if k, ok := Supports(&basic{}, []string{"partition", "membership"}); ok || k != "membership" {
		t.Errorf("Supports(basic, membership) = %q, %v", k, ok)
	}
	if all, _ := ParseKinds("all"); slices.Contains(all, "membership") {
		t.Errorf("all includes membership: %v", all)
	}
}
