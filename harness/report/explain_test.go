package report_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/report"
	"github.com/raftcheck/raftcheck/harness/store"
)

// storeRun checks and stores a hand-made history. Each op is
// {process, f, value, invoke ms, complete ms} on key k8; a read's value is
// what it returned.
func storeRun(t *testing.T, root string, ops [][5]int64, nemesis []checker.Event) (store.RunResult, string) {
	t.Helper()
	type timed struct {
		at    int64
		first bool
		e     checker.Event
	}
	var all []timed
	for _, o := range ops {
		f := checker.Write
		inv := checker.IntValue(o[2])
		if o[1] == 0 {
			f, inv = checker.Read, nil
		}
		all = append(all,
			timed{o[3], false, checker.Event{Time: o[3] * 1e6, Process: int(o[0]), Type: checker.Invoke, F: f, Key: "k8", Value: inv}},
			timed{o[4], true, checker.Event{Time: o[4] * 1e6, Process: int(o[0]), Type: checker.OK, F: f, Key: "k8", Value: checker.IntValue(o[2])}})
	}
	for _, e := range nemesis {
		all = append(all, timed{e.Time / 1e6, e.Type == checker.Info, e})
	}
	// Insertion sort by time, completions first: a dozen events.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && (all[j].at < all[j-1].at || all[j].at == all[j-1].at && all[j].first && !all[j-1].first); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	events := make([]checker.Event, len(all))
	for i, x := range all {
		events[i] = x.e
		events[i].Index = i
	}
	cfg := store.TestConfig{Name: "explained", Backend: "sim", Target: "raftnode", Nodes: 3, Workload: "register",
		Nemesis: []string{"partition"}, TimeLimit: store.Duration(time.Second), Concurrency: 4, Rate: 10, Seed: 7,
		CheckTimeout: store.Duration(time.Minute)}
	var faults []store.Fault
	for _, sp := range checker.FaultSpans(events) {
		faults = append(faults, store.Fault{Action: sp.Label, Start: sp.Start, End: sp.End})
	}
	fin := harness.Finished{Config: cfg, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Wall: time.Second,
		Outcome: harness.Outcome{Events: events, Faults: faults}}
	res, dir, err := harness.CheckAndStore(context.Background(), root, fin, false)
	if err != nil {
		t.Fatal(err)
	}
	return res, dir
}

const opRead, opWrite = 0, 1

// staleOps: p7's write of 5 is acknowledged at 380 ms, p1 reads 5, then
// p3 reads 3, written earlier.
var staleOps = [][5]int64{
	{0, opWrite, 1, 100, 120}, {2, opWrite, 3, 150, 160}, {1, opRead, 3, 170, 180}, {7, opWrite, 5, 200, 380},
	{1, opRead, 5, 390, 400}, {3, opRead, 3, 395, 410}, {1, opRead, 5, 420, 430},
}

var partition = []checker.Event{
	{Time: 250e6, Nemesis: true, Type: checker.Invoke, F: "partition", Value: []byte(`{"f":"partition","name":"halves","nodes":["n1"]}`)},
	{Time: 260e6, Nemesis: true, Type: checker.Info, F: "partition"},
	{Time: 500e6, Nemesis: true, Type: checker.Invoke, F: "heal"},
	{Time: 510e6, Nemesis: true, Type: checker.Info, F: "heal"},
}

func writeStatuses(t *testing.T, dir string) {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for ms := int64(0); ms <= 500; ms += 100 {
		lead := checker.StatusSample{Time: ms * 1e6, Node: "n2", Up: true, Role: "leader", Term: 4, Leader: "n2"}
		for _, s := range []checker.StatusSample{
			{Time: ms * 1e6, Node: "n1", Up: ms < 300, Role: "follower", Term: 4, Leader: "n2"}, lead,
			{Time: ms * 1e6, Node: "n3", Up: true, Role: "follower", Term: 4, Leader: "n2"},
		} {
			if !s.Up {
				s = checker.StatusSample{Time: s.Time, Node: s.Node}
			}
			if err := enc.Encode(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "statuses.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestExplanationOfStaleRead(t *testing.T) {
	res, dir := storeRun(t, t.TempDir(), staleOps, partition)
	if res.Verdict != checker.Invalid {
		t.Fatalf("verdict %v, want invalid", res.Verdict)
	}
	// Stored without statuses.jsonl: the section renders, without node states.
	page := read(t, filepath.Join(dir, report.IndexFile))
	sentence := "read k8 by p3 returned 3 at 0.41 s, but write k8=5 by p7 was acknowledged at 0.38 s, before it began"
	mustContain(t, "report", page, "<h2>Explanation</h2>", "stale read", sentence,
		"faults in force: partition halves n1 (from 0.25 s, until 0.51 s)", `href="explain-k8.html"`)
	if strings.Contains(page, "nodes at") {
		t.Error("node states without statuses.jsonl")
	}
	if e, plot := strings.Index(page, `id="explanation"`), strings.Index(page, `id="latency-plot"`); e < 0 || e > plot {
		t.Error("the explanation is not above the plots")
	}
	view := read(t, filepath.Join(dir, "explain-k8.html"))
	mustContain(t, "view", view, "write(k8, 5)", "read(k8) -\\u003e 3", `"Tag":"nemesis"`)
	if strings.Contains(view, "read(k8) -\\u003e 5") {
		t.Error("the view shows operations the explanation left out")
	}

	// With the nodes' states.
	writeStatuses(t, dir)
	if err := report.Write(dir); err != nil {
		t.Fatal(err)
	}
	page = read(t, filepath.Join(dir, report.IndexFile))
	mustContain(t, "report", page, sentence, "nodes at 0.20 s: n1, n3 followed n2 in term 4; n2 led term 4",
		"nodes at 0.41 s: n1 was down; n2 led term 4; n3 followed n2 in term 4")

	// A broken statuses.jsonl is a note, not a failure.
	if err := os.WriteFile(filepath.Join(dir, "statuses.jsonl"), []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := report.Write(dir); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "report", read(t, filepath.Join(dir, report.IndexFile)), sentence, "statuses.jsonl could not be read")
}

func TestNoExplanationOfValidRun(t *testing.T) {
	ops := [][5]int64{{0, opWrite, 1, 100, 120}, {1, opRead, 1, 130, 140}, {2, opWrite, 3, 150, 160}, {1, opRead, 3, 170, 180}}
	res, dir := storeRun(t, t.TempDir(), ops, partition)
	if res.Verdict != checker.Valid {
		t.Fatalf("verdict %v, want valid", res.Verdict)
	}
	page := read(t, filepath.Join(dir, report.IndexFile))
	if strings.Contains(page, "<h2>Explanation</h2>") || strings.Contains(page, `id="explanation"`) {
		t.Error("a valid run's report has an explanation")
	}
	if _, err := os.Stat(filepath.Join(dir, "explain-k8.html")); err == nil {
		t.Error("a valid run has an explanation view")
	}
}
