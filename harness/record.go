package harness

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/report"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Finished is a run ready to be checked and stored.
type Finished struct {
	// Config is the configuration the run used, every setting resolved.
	Config  store.TestConfig
	Outcome Outcome
	// StartedAt and Wall are when the run started and how long it took,
	// in wall time (a simulated run's virtual time is in its notes).
	StartedAt time.Time
	Wall      time.Duration
	// Notes are the backend's observations, after the engine's.
	Notes []string
	// Attach, if set, adds the backend's files (node logs) to the run
	// directory.
	Attach func(ctx context.Context, dir string) error
}

// CheckAndStore checks a run's history and writes its run directory
// under root: test.json, history.jsonl, statuses.jsonl, results.json,
// the HTML view when the verdict is not valid (or htmlAlways), the report
// (index.html), and root/latest and root/index.html. A report or index
// that cannot be written is a note in results.json, not an error: the
// verdict stands.
func CheckAndStore(ctx context.Context, root string, f Finished, htmlAlways bool) (store.RunResult, string, error) {
	cfg, out := f.Config, f.Outcome
	dir, err := store.NewRunDir(root, cfg.Name, f.StartedAt)
	if err != nil {
		return store.RunResult{}, "", err
	}
	res := store.RunResult{Test: cfg.Name, StartedAt: f.StartedAt, Duration: store.Duration(f.Wall),
		Faults: out.Faults, Notes: append(slices.Clone(out.Notes), f.Notes...), Replay: cfg.ReplayCommand(),
		Latency: Latencies(out.Events)}
	for _, fault := range out.Faults {
		if fault.Bit != nil && !*fault.Bit {
			res.Notes = append(res.Notes, fmt.Sprintf("fault did not bite: %s (%s)", fault.Action, fault.Evidence))
		}
	}
	if err := store.WriteJSON(filepath.Join(dir, store.TestFile), cfg); err != nil {
		return res, dir, err
	}
	if err := store.WriteHistory(dir, out.Events); err != nil {
		return res, dir, err
	}
	if err := store.WriteStatuses(dir, out.Statuses); err != nil {
		return res, dir, err
	}
	if f.Attach != nil {
		if err := f.Attach(ctx, dir); err != nil {
			res.Notes = append(res.Notes, "could not collect node logs: "+err.Error())
		}
	}
	checkStart := time.Now()
	cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.CheckTimeout))
	cr, err := checker.Check(cctx, out.Events)
	cancel()
	if err != nil {
		return res, dir, fmt.Errorf("check: %w", err)
	}
	res.CheckDuration = store.Duration(time.Since(checkStart))
	res.Verdict, res.Counts, res.FailingKeys = cr.Verdict, cr.Counts, cr.Failing()
	res.Invariant, res.NotLive = out.Invariant, out.NotLive
	if res.Invariant != "" {
		res.Verdict = checker.Invalid // a broken invariant is a bug, whatever the history shows
	}
	if cr.Verdict != checker.Valid || htmlAlways {
		if res.HTML, err = store.WriteHTMLView(dir, cr, out.Events, htmlAlways); err != nil {
			return res, dir, err
		}
	}
	if err := store.WriteJSON(filepath.Join(dir, store.ResultsFile), res); err != nil {
		return res, dir, err
	}
	if err := store.PointLatest(root, dir); err != nil {
		return res, dir, err
	}
	if err := writeReports(root, dir, &res); err != nil {
		return res, dir, err
	}
	return res, dir, nil
}

// writeReports renders the run's report and the store's index. Their
// failures become notes in results.json, and in the report when it can
// be rendered.
func writeReports(root, dir string, res *store.RunResult) error {
	var notes []string
	rendered := report.Write(dir)
	if rendered != nil {
		notes = append(notes, "could not render the report: "+rendered.Error())
	}
	if err := report.WriteIndex(root); err != nil {
		notes = append(notes, "could not update the results index: "+err.Error())
	}
	if len(notes) == 0 {
		return nil
	}
	res.Notes = append(res.Notes, notes...)
	if err := store.WriteJSON(filepath.Join(dir, store.ResultsFile), res); err != nil {
		return err
	}
	if rendered == nil {
		return report.Write(dir) // again, with the notes
	}
	return nil
}

// PrintSummary writes a one-screen summary of a run.
func PrintSummary(w io.Writer, cfg store.TestConfig, res store.RunResult, dir string) {
	fmt.Fprintf(w, "\n%s  backend=%s nodes=%d nemesis=%s seed=%d%s\n", cfg.Name, cfg.Backend, cfg.Nodes,
		orNone(strings.Join(cfg.Nemesis, ",")), cfg.Seed, unsafeNote(cfg.Unsafe))
	fmt.Fprintf(w, "  operations: %d ok, %d fail, %d info   in %v (check %v)\n",
		res.Counts.OK, res.Counts.Fail, res.Counts.Info,
		time.Duration(res.Duration).Round(time.Millisecond), time.Duration(res.CheckDuration).Round(time.Millisecond))
	if l, ok := res.Latency["all"]; ok {
		fmt.Fprintf(w, "  latency (ok ops): p50 %v  p99 %v  max %v\n", time.Duration(l.P50).Round(time.Microsecond),
			time.Duration(l.P99).Round(time.Microsecond), time.Duration(l.Max).Round(time.Microsecond))
	}
	if len(res.Faults) > 0 {
		bit, unknown := 0, 0
		for _, f := range res.Faults {
			switch {
			case f.Bit == nil:
				unknown++
			case *f.Bit:
				bit++
			}
		}
		fmt.Fprintf(w, "  faults: %d injected", len(res.Faults))
		if unknown < len(res.Faults) {
			fmt.Fprintf(w, ", %d seen to bite, %d did NOT bite", bit, len(res.Faults)-bit-unknown)
		}
		fmt.Fprintln(w)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if res.Invariant != "" {
		fmt.Fprintf(w, "  INVARIANT BROKEN: %s\n", res.Invariant)
	}
	if res.NotLive != "" {
		fmt.Fprintf(w, "  NOT LIVE: %s\n", res.NotLive)
	}
	fmt.Fprintf(w, "  verdict: %s", strings.ToUpper(res.Verdict.String()))
	if len(res.FailingKeys) > 0 {
		fmt.Fprintf(w, " (keys %s)", strings.Join(res.FailingKeys, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  results: %s\n", dir)
	if store.Exists(filepath.Join(dir, report.IndexFile)) {
		fmt.Fprintf(w, "  report:  %s\n", filepath.Join(dir, report.IndexFile))
	}
	if res.HTML != "" {
		fmt.Fprintf(w, "  view:    %s\n", filepath.Join(dir, res.HTML))
	}
	fmt.Fprintf(w, "  replay:  raftcheck test --replay %s\n", dir)
	fmt.Fprintf(w, "      or:  %s\n", res.Replay)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func unsafeNote(u string) string {
	if u == "" {
		return ""
	}
	return " UNSAFE=" + u
}
