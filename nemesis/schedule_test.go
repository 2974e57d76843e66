package nemesis

import (
	"math/rand/v2"
	"slices"
	"testing"
)

var five = []string{"n1", "n2", "n3", "n4", "n5"}

// heard returns the nodes n hears (itself included).
func heard(g Grudge, nodes []string, n string) []string {
	var out []string
	for _, o := range nodes {
		if !g.Cuts(o, n) {
			out = append(out, o)
		}
	}
	return out
}

func TestMajoritiesRing(t *testing.T) {
	for _, nodes := range [][]string{five[:3], five} {
		g := MajoritiesRing(nodes)
		seen := map[string]bool{}
		for _, n := range nodes {
			h := heard(g, nodes, n)
			if len(h) != len(nodes)/2+1 {
				t.Errorf("%d nodes: %s hears %v, want a bare majority", len(nodes), n, h)
			}
			if seen[joined(h)] {
				t.Errorf("%s hears the same majority %v as another node", n, h)
			}
			seen[joined(h)] = true
		}
	}
}

func joined(s []string) string {
	out := ""
	for _, x := range s {
		out += x + ","
	}
	return out
}

func TestBridge(t *testing.T) {
	g := Bridge(five)
	if h := heard(g, five, "n3"); len(h) != 5 {
		t.Errorf("bridge n3 hears %v, want everyone", h)
	}
	if !g.Cuts("n1", "n4") || !g.Cuts("n5", "n2") || g.Cuts("n1", "n2") || g.Cuts("n3", "n1") {
		t.Errorf("bridge grudge wrong: %v", g)
	}
}

func TestIsolateAndGroups(t *testing.T) {
	g := Isolate(five, "n2")
	if h := heard(g, five, "n2"); !slices.Equal(h, []string{"n2"}) {
		t.Errorf("isolated n2 hears %v", h)
	}
	if h := heard(g, five, "n1"); len(h) != 4 {
		t.Errorf("n1 hears %v, want the four others", h)
	}
}

func TestScheduleDeterministicAndComplete(t *testing.T) {
	run := func() []string {
		s := NewSchedule(Kinds, five, rand.New(rand.NewPCG(1, 2)))
		var out []string
		for range 200 {
			f, r := s.Next("n1")
			out = append(out, string(f.Describe()), string(r[0].Describe()))
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatal("same seed gave different schedules")
	}
	names := map[string]bool{}
	s := NewSchedule(Kinds, five, rand.New(rand.NewPCG(3, 4)))
	for range 500 {
		f, r := s.Next("n2")
		names[f.Name] = true
		undo := map[string]string{"partition": "heal", "kill": "start", "pause": "resume"}
		if len(r) != 1 || undo[f.F] != r[0].F {
			t.Fatalf("fault %s recovered by %v", f.F, r)
		}
	}
	for _, want := range []string{"halves", "majorities-ring", "isolate-leader", "bridge", "kill-one", "kill-leader", "kill-majority", "pause-one", "pause-leader"} {
		if !names[want] {
			t.Errorf("schedule never produced %s", want)
		}
	}
}

func TestParseKinds(t *testing.T) {
	if k, err := ParseKinds("partition,kill"); err != nil || !slices.Equal(k, []string{"partition", "kill"}) {
		t.Errorf("got %v %v", k, err)
	}
	if _, err := ParseKinds("partition,flood"); err == nil {
		t.Error("unknown kind accepted")
	}
	if k, _ := ParseKinds("none"); k != nil {
		t.Error("none should select nothing")
	}
}
