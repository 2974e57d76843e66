package nemesis

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// disks takes membership changes and corruptions, and refuses to start a
// node whose log had a byte flipped, as raftnode does.
type disks struct {
	*members
	flipped map[string]bool
	did     []string
}

func (d *disks) Corrupt(ctx context.Context, node, kind string) (Corruption, error) {
	d.did = append(d.did, "corrupt "+node+" "+kind)
	if kind == FlipByte {
		d.flipped[node] = true
	}
	return Corruption{Kind: kind}, nil
}

func (d *disks) Start(ctx context.Context, node string) error {
	d.did = append(d.did, "start "+node)
	if d.flipped[node] {
		return errRefused
	}
	return nil
}

func (d *disks) AddMember(ctx context.Context, slot string) error {
	d.did = append(d.did, "add "+slot)
	delete(d.flipped, slot) // an empty volume
	return d.members.AddMember(ctx, slot)
}

var errRefused = refusal("refused to start: a flipped byte")

type refusal string

func (r refusal) Error() string { return string(r) }

// A flipped byte is recovered from by the start its node must refuse,
// then by replacing the node: it comes back under a new member ID, and
// the cluster keeps a majority of voters throughout.
func TestScheduleFlipByte(t *testing.T) {
	ctx := context.Background()
	for _, slots := range [][]string{five[:3], five} {
		d := &disks{members: newMembers(slots), flipped: map[string]bool{}}
		s := NewSchedule([]string{"flip-byte", "kill"}, slots, rand.New(rand.NewPCG(5, 6)))
		flips := 0
		for range 100 {
			fault, rec := s.Next(slots[0])
			if fault.F != "corrupt" {
				for _, a := range append([]Action{fault}, rec...) {
					if err := Apply(ctx, d, a); err != nil {
						t.Fatalf("%s: %v", a, err)
					}
				}
				continue
			}
			flips++
			v := fault.Nodes
			want := []Action{{F: "start", Nodes: v}, {F: "replace", Name: ReplaceCorrupted, Nodes: v}}
			if fault.Name != FlipByte || len(v) != 1 || !slices.EqualFunc(rec, want, func(a, b Action) bool { return a.String() == b.String() }) {
				t.Fatalf("%s recovers with %v, want %v", fault, rec, want)
			}
			before := d.incarnation[v[0]]
			if err := Apply(ctx, d, fault); err != nil {
				t.Fatalf("%s: %v", fault, err)
			}
			if err := Apply(ctx, d, rec[0]); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("%s after a flipped byte: %v, want the refusal", rec[0], err)
			}
			if err := Apply(ctx, d, rec[1]); err != nil {
				t.Fatalf("%s: %v", rec[1], err)
			}
			if d.voters() != len(slots) || d.incarnation[v[0]] != before+1 || d.flipped[v[0]] {
				t.Fatalf("after %s: %d voters, %s incarnation %d (was %d), flipped %v", rec[1], d.voters(), v[0], d.incarnation[v[0]], before, d.flipped)
			}
		}
		if flips < 20 {
			t.Errorf("%d slots: %d flip-bytes in 100 faults of two kinds", len(slots), flips)
		}
	}
}

// flip-byte is opt-in, and needs a backend that both corrupts logs and
// changes membership: without either it is refused up front.
func TestFlipByteNeedsDisksAndMembers(t *testing.T) {
	if all, _ := ParseKinds("all"); slices.Contains(all, "flip-byte") {
		t.Errorf("all includes flip-byte: %v", all)
	}
	if k, err := ParseKinds("flip-byte,kill"); err != nil || !slices.Equal(k, []string{"flip-byte", "kill"}) {
		t.Errorf("ParseKinds(flip-byte,kill) = %v, %v", k, err)
	}
	for _, f := range []Faults{&basic{}, &full{}, newMembers(five[:3])} {
		if k, ok := Supports(f, []string{"kill", "flip-byte"}); ok || k != "flip-byte" {
			t.Errorf("Supports(%T, flip-byte) = %q, %v; want refused", f, k, ok)
		}
	}
	if k, ok := Supports(&disks{members: newMembers(five[:3])}, []string{"kill", "flip-byte"}); !ok {
		t.Errorf("Supports(disks and members, flip-byte) refused %q", k)
	}
}
