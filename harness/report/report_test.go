package report_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/campaign"
	"github.com/raftcheck/raftcheck/harness/report"
	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
)

// simRun runs a short simulated test and stores it under root.
func simRun(t *testing.T, root string, seed uint64) (store.RunResult, string) {
	t.Helper()
	cfg := store.TestConfig{Name: "raftnode-register-sim", Backend: "sim", Target: "raftnode", Nodes: 5,
		Workload: "register", Nemesis: []string{"partition", "kill", "pause"}, TimeLimit: store.Duration(5 * time.Second),
		Concurrency: 10, Rate: 200, Seed: seed, CheckTimeout: store.Duration(time.Minute)}
	cfg, err := sim.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := sim.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, dir, err := harness.CheckAndStore(context.Background(), root, fin, false)
	if err != nil {
		t.Fatal(err)
	}
	return res, dir
}

// staleRun stores a hand-made history that is not linearizable (a read
// of a value never written), with names that need escaping.
func staleRun(t *testing.T, root string) (store.RunResult, string) {
	t.Helper()
	key := `k<b>"1"`
	ev := func(tm int64, p int, typ checker.Type, f string, v []byte) checker.Event {
		return checker.Event{Time: tm, Process: p, Type: typ, F: f, Key: key, Value: v}
	}
	events := []checker.Event{
		ev(1e6, 0, checker.Invoke, checker.Write, checker.IntValue(1)),
		ev(3e6, 0, checker.OK, checker.Write, checker.IntValue(1)),
		{Time: 4e6, Nemesis: true, Type: checker.Invoke, F: "partition", Value: []byte(`{"f":"partition","name":"<halves>"}`)},
		{Time: 5e6, Nemesis: true, Type: checker.Info, F: "partition"},
		ev(6e6, 1, checker.Invoke, checker.Read, nil),
		ev(9e6, 1, checker.OK, checker.Read, checker.IntValue(7)),
		{Time: 12e6, Nemesis: true, Type: checker.Invoke, F: "heal"},
		{Time: 13e6, Nemesis: true, Type: checker.Info, F: "heal"},
		ev(14e6, 2, checker.Invoke, checker.CAS, checker.PairValue(1, 2)),
		ev(15e6, 2, checker.Fail, checker.CAS, checker.PairValue(1, 2)),
		ev(16e6, 3, checker.Invoke, checker.Write, checker.IntValue(3)),
	}
	for i := range events {
		events[i].Index = i
	}
	cfg := store.TestConfig{Name: "hand-made", Backend: "sim", Target: "raftnode", Nodes: 3, Workload: "register",
		Nemesis: []string{"partition"}, TimeLimit: store.Duration(time.Second), Concurrency: 4, Rate: 10, Seed: 42,
		Unsafe: "stale-reads", CheckTimeout: store.Duration(time.Minute)}
	var faults []store.Fault
	for _, sp := range checker.FaultSpans(events) {
		faults = append(faults, store.Fault{Action: sp.Label, Start: sp.Start, End: sp.End})
	}
	fin := harness.Finished{Config: cfg, StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Wall: time.Second,
		Outcome: harness.Outcome{Events: events, Faults: faults, Notes: []string{"<script>alert(1)</script>"}}}
	res, dir, err := harness.CheckAndStore(context.Background(), root, fin, false)
	if err != nil {
		t.Fatal(err)
	}
	return res, dir
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustContain(t *testing.T, what, page string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(page, s) {
			t.Errorf("%s lacks %q", what, s)
		}
	}
}

func TestReportOfSimRun(t *testing.T) {
	root := t.TempDir()
	res, dir := simRun(t, root, 3)
	page := read(t, filepath.Join(dir, report.IndexFile))
	mustContain(t, "report", page, `class="verdict valid"`, ">VALID<", res.Replay, "<svg", `id="latency-plot"`,
		`id="rate-plot"`, `href="history.jsonl"`, "raftnode-register-sim")
	if len(res.Faults) == 0 {
		t.Fatal("the simulated run injected no faults")
	}
	if n := strings.Count(page, `<tr class="fault">`); n != len(res.Faults) {
		t.Errorf("report has %d fault rows, results.json %d faults", n, len(res.Faults))
	}
	// Operation counts come from the history and agree with the checker's.
	mustContain(t, "report", page, ">"+strconv.Itoa(res.Counts.OK)+"<", ">"+strconv.Itoa(res.Counts.Fail)+"<")
	if strings.Contains(page, "counts differ") || strings.Contains(page, "the history has") {
		t.Error("report's counts disagree with results.json")
	}
	// Fault intervals are shaded in both plots.
	if strings.Count(page, `fill-opacity="0.13"`) < 2 {
		t.Error("no fault intervals shaded")
	}
	index := read(t, filepath.Join(root, report.IndexFile))
	rel, _ := filepath.Rel(root, dir)
	mustContain(t, "index", index, `href="`+filepath.ToSlash(rel)+`/index.html"`, `class="run valid"`)
}

func TestReportOfInvalidRunEscapes(t *testing.T) {
	root := t.TempDir()
	res, dir := staleRun(t, root)
	if res.Verdict != checker.Invalid {
		t.Fatalf("verdict %v, want invalid", res.Verdict)
	}
	page := read(t, filepath.Join(dir, report.IndexFile))
	mustContain(t, "report", page, `class="verdict invalid"`, ">INVALID<", `href="history.html"`,
		"&lt;script&gt;alert(1)&lt;/script&gt;", "k&lt;b&gt;&#34;1&#34;", "&lt;halves&gt;", `<b class="bit-no">stale-reads</b>`,
		"1 never completed")
	for _, raw := range []string{"<script>", `k<b>"1"`, "<halves>"} {
		if strings.Contains(page, raw) {
			t.Errorf("report has %q unescaped", raw)
		}
	}
	// A report re-rendered from the stored files is the same page.
	if err := report.Write(dir); err != nil {
		t.Fatal(err)
	}
	if again := read(t, filepath.Join(dir, report.IndexFile)); again != page {
		t.Error("re-rendering from the stored files gives a different page")
	}
}

func TestListRunsNewestFirst(t *testing.T) {
	root := t.TempDir()
	_, old := staleRun(t, root) // started in 2026-01-02
	_, newer := simRun(t, root, 3)
	// A finished campaign, as harness/campaign writes it, with a failed
	// run; and one still starting, without a summary yet.
	campDir := filepath.Join(root, "campaigns", "20260101T000000Z")
	for _, d := range []string{campDir, filepath.Join(root, "campaigns", "20260102T000000Z")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sum := campaign.NewSummary(&campaign.Spec{Name: "nightly", File: "nightly.yaml"}, root, 2,
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sum.Add(campaign.Record{Name: "a", Verdict: "valid", Outcome: campaign.Pass})
	sum.Add(campaign.Record{Name: "b", Verdict: "invalid", Outcome: campaign.Fail})
	sum.Finish(time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC), false)
	if err := sum.Write(campDir); err != nil {
		t.Fatal(err)
	}
	runs, err := report.ListRuns(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || filepath.Join(root, runs[0].Path) != newer || filepath.Join(root, runs[1].Path) != old {
		t.Fatalf("runs %+v, want %s then %s", runs, newer, old)
	}
	if runs[1].Verdict != checker.Invalid || runs[1].Seed != 42 || !runs[1].Report || !runs[1].HistoryHTML {
		t.Errorf("hand-made run listed as %+v", runs[1])
	}
	camps, err := report.ListCampaigns(os.DirFS(root))
	if err != nil || len(camps) != 2 {
		t.Fatalf("campaigns %+v, %v; want two", camps, err)
	}
	if c := camps[1]; c.Name != "nightly" || c.Status() != "failed" || c.Class() != "invalid" || c.Runs != 2 ||
		c.Totals.Pass != 1 || c.Totals.Fail != 1 || !c.Report {
		t.Errorf("finished campaign listed as %+v (%s)", c, c.Status())
	}
	if c := camps[0]; c.Summary || c.Status() != "no summary" {
		t.Errorf("campaign without a summary listed as %+v", c)
	}
	if err := report.WriteIndex(root); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "index", read(t, filepath.Join(root, report.IndexFile)), `<tr class="campaign invalid">`,
		`href="campaigns/20260101T000000Z/index.html"`, "nightly")
}

// The handler lists runs stored after it started, serves their reports
// and files, renders a report for a run without one, and keeps to the
// store.
func TestHandler(t *testing.T) {
	root := t.TempDir()
	h, err := report.NewHandler(root)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "no runs yet") {
		t.Fatalf("empty index: %d\n%s", code, body)
	}
	_, dir := staleRun(t, root)
	rel, _ := filepath.Rel(root, dir)
	rel = filepath.ToSlash(rel)
	code, body := get("/")
	mustContain(t, "index", body, `class="run invalid"`, rel+"/index.html", "hand-made")
	if code != 200 {
		t.Errorf("index: status %d", code)
	}
	if code, body := get("/" + rel + "/index.html"); code != 200 || !strings.Contains(body, ">INVALID<") {
		t.Errorf("report: status %d", code)
	}
	if code, body := get("/" + rel + "/history.jsonl"); code != 200 || !strings.Contains(body, "raftcheck-history") {
		t.Errorf("history: status %d", code)
	}
	// A run stored without a report (before reports existed) gets one.
	if err := os.Remove(filepath.Join(dir, report.IndexFile)); err != nil {
		t.Fatal(err)
	}
	if code, body := get("/" + rel + "/"); code != 200 || !strings.Contains(body, ">INVALID<") {
		t.Errorf("report rendered on the fly: status %d", code)
	}
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/escape", "/../" + filepath.Base(filepath.Dir(outside)) + "/secret", "/%2e%2e/secret"} {
		if code, body := get(p); code == 200 || strings.Contains(body, "secret") {
			t.Errorf("GET %s: %d %q, want it refused", p, code, body)
		}
	}
	if resp, err := http.Post(srv.URL+"/", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp, err)
	}
}
