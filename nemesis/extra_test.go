package nemesis

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// basic takes only the faults every backend takes, and records them.
type basic struct{ did []string }

func (b *basic) Nodes() []string { return five[:3] }
func (b *basic) Partition(ctx context.Context, g Grudge) error {
	b.did = append(b.did, "partition")
	return nil
}
func (b *basic) Heal(ctx context.Context) error { b.did = append(b.did, "heal"); return nil }
func (b *basic) Kill(ctx context.Context, n string) error {
	b.did = append(b.did, "kill "+n)
	return nil
}
func (b *basic) Start(ctx context.Context, n string) error  { return nil }
func (b *basic) Pause(ctx context.Context, n string) error  { return nil }
func (b *basic) Resume(ctx context.Context, n string) error { return nil }
func (b *basic) Leader(ctx context.Context) (string, error) { return "", nil }

// full takes every fault.
type full struct {
	basic
	links *LinkFault
	lost  []string
	torn  []string
}

func (f *full) Degrade(ctx context.Context, lf LinkFault) error { f.links = &lf; return nil }
func (f *full) RestoreLinks(ctx context.Context) error          { f.links = nil; return nil }
func (f *full) LoseUnfsynced(ctx context.Context, nodes ...string) (map[string]int64, error) {
	f.lost = append(f.lost, nodes...)
	return nil, nil
}
func (f *full) Corrupt(ctx context.Context, node, kind string) (Corruption, error) {
	f.torn = append(f.torn, node+" "+kind)
	return Corruption{Kind: kind}, nil
}

func TestExtraFaultsNeedTheirInterface(t *testing.T) {
	ctx := context.Background()
	actions := []Action{
		{F: "degrade", Name: "loss-one-way", Link: &LinkFault{Links: Grudge{"n1": {"n2"}}, Loss: 0.5}},
		{F: "restore-links"},
		{F: "lose-unfsynced", Nodes: []string{"n1", "n2"}},
		{F: "corrupt", Name: TornTail, Nodes: []string{"n3"}},
	}
	for _, a := range actions {
		err := Apply(ctx, &basic{}, a)
		if err == nil || !strings.Contains(err.Error(), "cannot take fault \""+a.F+"\"") {
			t.Errorf("%s on a basic backend: %v; want a cannot-take error", a, err)
		}
	}
	f := &full{}
	for _, a := range actions {
		if err := Apply(ctx, f, a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if f.links != nil || !slices.Equal(f.lost, []string{"n1", "n2"}) || !slices.Equal(f.torn, []string{"n3 torn-tail"}) ||
		!slices.Equal(f.did, []string{"kill n3"}) {
		t.Errorf("full backend saw links %v, lost %v, corrupted %v, did %v", f.links, f.lost, f.torn, f.did)
	}
	for _, bad := range []Action{
		{F: "degrade", Link: &LinkFault{Links: Grudge{"n1": {"n2"}}, Loss: 1.5}},
		{F: "degrade", Link: &LinkFault{Loss: 0.5}},
		{F: "degrade", Link: &LinkFault{Links: Grudge{"n1": {"n2"}}}},
		{F: "degrade", Link: &LinkFault{Links: Grudge{"n1": {"n2"}}, Delay: -time.Second}},
		{F: "degrade"},
		{F: "corrupt", Name: "shred", Nodes: []string{"n1"}},
	} {
		if err := Apply(ctx, f, bad); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}

func TestParseExtraKinds(t *testing.T) {
	got, err := ParseKinds("all,loss,torn-tail,lose-unfsynced")
	want := []string{"partition", "kill", "pause", "loss", "torn-tail", "lose-unfsynced"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ParseKinds: %v, %v; want %v", got, err, want)
	}
	if all, _ := ParseKinds("all"); slices.Contains(all, "loss") {
		t.Errorf("all includes a fault not every backend takes: %v", all)
	}
	if _, err := ParseKinds("loss,jitter"); err == nil {
		t.Error("unknown kind accepted")
	}
}

// Every extra fault the schedule makes is one a full backend takes, and
// its recovery undoes it.
func TestScheduleExtraKinds(t *testing.T) {
	kinds := slices.DeleteFunc(slices.Clone(ExtraKinds), func(k string) bool { return k == "membership" || k == "flip-byte" })
	s := NewSchedule(kinds, five, rand.New(rand.NewPCG(1, 2)))
	seen := map[string]bool{}
	ctx := context.Background()
	for range 200 {
		fault, rec := s.Next("n1")
		seen[fault.F+" "+fault.Name] = true
		f := &full{}
		if err := Apply(ctx, f, fault); err != nil {
			t.Fatalf("%s: %v", fault, err)
		}
		if len(rec) != 1 {
			t.Fatalf("%s recovers with %v, want one action", fault, rec)
		}
		if err := Apply(ctx, f, rec[0]); err != nil {
			t.Fatalf("%s: %v", rec[0], err)
		}
		if f.links != nil {
			t.Errorf("%s then %s leaves links degraded", fault, rec[0])
		}
		if fault.F == "lose-unfsynced" && (rec[0].F != "start" || !slices.Equal(rec[0].Nodes, fault.Nodes)) {
			t.Errorf("%s recovers with %s", fault, rec[0])
		}
	}
	for _, want := range []string{"degrade loss-isolate", "degrade loss-halves", "degrade loss-one-way",
		"degrade latency-isolate", "degrade latency-halves", "degrade latency-one-way",
		"lose-unfsynced lose-one", "lose-unfsynced lose-majority", "corrupt torn-tail"} {
		if !seen[want] {
			t.Errorf("200 faults never included %q; saw %v", want, seen)
		}
	}
}
