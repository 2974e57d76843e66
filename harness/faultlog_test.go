package harness

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/workload"
)

// A corruption is judged when its node starts again: the fault table
// carries the start's evidence, and a start that shows no reaction makes
// the corruption one that did not bite. A kill is judged when injected:
// the start that ends it changes nothing.
func TestFaultLogJudgesCorruptionAtStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		first    nemesis.Action
		startBit bool
		wantBit  bool
		wantText string
	}{
		{"corrupt, recovered", nemesis.Action{F: "corrupt", Nodes: []string{"n1"}, Name: nemesis.TornTail}, true, true, "; then n1 recovered"},
		{"corrupt, no reaction", nemesis.Action{F: "corrupt", Nodes: []string{"n1"}, Name: nemesis.TornTail}, false, false, "; then n1 recovered"},
		{"kill", nemesis.Action{F: "kill", Nodes: []string{"n1"}, Name: "kill-one"}, false, true, "injected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := int64(0)
			rec := workload.NewRecorder(func() int64 { now++; return now })
			log := faultLog{evidence: map[int]evidence{}}
			start := nemesis.Action{F: "start", Nodes: []string{"n1"}}
			for _, a := range []nemesis.Action{tc.first, start} {
				at := rec.Nemesis(checker.Invoke, a.F, a.Describe())
				rec.Nemesis(checker.Info, a.F, a.Describe())
				ev := evidence{bit: true, detail: "injected"}
				if a.F == "start" {
					ev = evidence{bit: tc.startBit, detail: "n1 recovered"}
				}
				log.evidence[at] = ev
			}
			faults := log.record(rec.Events())
			if len(faults) != 1 || faults[0].Bit == nil {
				t.Fatalf("faults = %+v, want one with evidence", faults)
			}
			f := faults[0]
			if *f.Bit != tc.wantBit || !strings.Contains(f.Evidence, tc.wantText) {
				t.Errorf("bit %v evidence %q; want bit %v and %q", *f.Bit, f.Evidence, tc.wantBit, tc.wantText)
			}
			if tc.first.F == "kill" && strings.Contains(f.Evidence, "then") {
				t.Errorf("a kill's evidence took its start's: %q", f.Evidence)
			}
		})
	}
}

// refuser is a fake cluster whose nodes refuse to start, as a node must
// on a log with a flipped byte; its evidence says whether the refusal
// was the expected one.
type refuser struct {
	*fakeCluster
	expected bool
}

func (r *refuser) Start(context.Context, string) error {
	return errors.New("n3 stopped (exit code 1) before answering its status")
}

func (r *refuser) Corrupt(_ context.Context, node, kind string) (nemesis.Corruption, error) {
	return nemesis.Corruption{Kind: kind}, nil
}

func (r *refuser) Evidence(_ context.Context, a nemesis.Action) (bool, string) {
	if a.F == "start" {
		return r.expected, "n3 refused to start: flipped byte at offset 42"
	}
	return true, "n3 flip-byte: byte 50 flipped"
}

// A start that fails is still judged: a refusal the evidence expected
// (a flipped byte) makes the corruption's row one that bit, naming the
// refusal; any other failure to start says so and did not bite.
func TestActJudgesAFailedStart(t *testing.T) {
	for _, expected := range []bool{true, false} {
		now := int64(0)
		r := &run{b: &refuser{fakeCluster: newFake(), expected: expected},
			rec: workload.NewRecorder(func() int64 { now++; return now }), faults: faultLog{evidence: map[int]evidence{}}}
		r.act(nemesis.Action{F: "corrupt", Name: nemesis.FlipByte, Nodes: []string{"n3"}})
		r.recover([]nemesis.Action{{F: "start", Nodes: []string{"n3"}}})
		faults := r.faults.record(r.rec.Events())
		if len(faults) != 1 || faults[0].Bit == nil {
			t.Fatalf("expected %v: faults %+v, want the corruption with evidence", expected, faults)
		}
		f := faults[0]
		wantText := "then n3 refused to start: flipped byte at offset 42"
		if !expected {
			wantText = "then failed to start: start n3: n3 stopped"
		}
		if *f.Bit != expected || !strings.Contains(f.Evidence, wantText) {
			t.Errorf("expected %v: bit %v evidence %q; want %q", expected, *f.Bit, f.Evidence, wantText)
		}
	}
}
