package harness

import (
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
