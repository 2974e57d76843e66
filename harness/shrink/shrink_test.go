package shrink

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
)

func at(ms int, f string, nodes ...string) store.TimedAction {
	return store.TimedAction{At: store.Duration(time.Duration(ms) * time.Millisecond), Action: nemesis.Action{F: f, Nodes: nodes}}
}

// A fault and the action that undoes it are one unit; a partition that
// replaces another ends it.
func TestFaultUnits(t *testing.T) {
	sched := []store.TimedAction{
		at(0, "partition"), at(10, "kill", "n1"), at(20, "partition"), at(30, "start", "n1"),
		at(40, "heal"), at(50, "pause", "n2"), at(60, "resume", "n2"), at(70, "start", "n3"),
	}
	want := [][]int{{0, 2}, {1, 3}, {2, 4}, {5, 6}, {7}}
	if got := faultUnits(sched); !reflect.DeepEqual(got, want) {
		t.Fatalf("units %v, want %v", got, want)
	}
}

// A corruption is undone by its node's start, as a kill is; the replace
// that follows a flipped byte is a unit of its own.
func TestFaultUnitsCorrupt(t *testing.T) {
	sched := []store.TimedAction{at(0, "corrupt", "n3"), at(10, "start", "n3"), at(20, "replace", "n3"), at(30, "kill", "n1"), at(40, "start", "n1")}
	want := [][]int{{0, 1}, {2}, {3, 4}}
	if got := faultUnits(sched); !reflect.DeepEqual(got, want) {
		t.Fatalf("units %v, want %v", got, want)
	}
}

// ddmin finds the two units a failure needs among many.
func TestDDMin(t *testing.T) {
	s := &search{ctx: context.Background(), deadline: time.Now().Add(time.Minute)}
	var units [][]int
	for i := range 40 {
		units = append(units, []int{i})
	}
	needs := func(keep [][]int) (trial, bool) {
		return trial{}, slices.ContainsFunc(keep, func(u []int) bool { return u[0] == 7 }) &&
			slices.ContainsFunc(keep, func(u []int) bool { return u[0] == 31 })
	}
	if got := s.ddmin(units, needs); !reflect.DeepEqual(got, [][]int{{7}, {31}}) {
		t.Fatalf("ddmin kept %v, want [[7] [31]]", got)
	}
}

// A real failing run shrinks to a much smaller one that fails the same
// way and replays from its test.json alone.
func TestShrinkStaleReads(t *testing.T) {
	tc, err := sim.Resolve(store.TestConfig{Name: "shrink", Backend: "sim", Target: "raftnode", Nodes: 5, Workload: "register",
		Nemesis: nemesis.Kinds, TimeLimit: store.Duration(20 * time.Second), Concurrency: 10, Rate: 200, Seed: 1,
		Unsafe: "stale-reads", CheckTimeout: store.Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Shrink(context.Background(), tc, Options{Budget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != NotLinearizable || res.After.Faults > 3 || res.After.Operations*4 > res.Before.Operations {
		t.Fatalf("shrunk %s run from %v to %v: want at most 3 faults and a quarter of the operations", res.Kind, res.Before, res.After)
	}
	again, err := (&search{ctx: context.Background(), deadline: time.Now().Add(time.Minute)}).try(res.Config)
	if err != nil || again.kind != res.Kind || again.size != res.After {
		t.Fatalf("the shrunk configuration replays as %v %v (err %v), want %v %v", again.kind, again.size, err, res.Kind, res.After)
	}
}
