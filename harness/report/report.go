package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

//go:embed *.tmpl
var templateFiles embed.FS

// templates are parsed once and only executed after: safe to share.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"inc":  func(i int) int { return i + 1 },
	"base": path.Base,
}).ParseFS(templateFiles, "*.tmpl"))

// page is what report.html.tmpl shows.
type page struct {
	Cfg                   store.TestConfig
	Res                   store.RunResult
	Ran, Checked          string
	ConfigJSON            string
	Dir                   string
	Nemesis               string
	Started, Span         string
	Verdict, VerdictUpper string
	VerdictText           string
	Counts                []countRow
	Latency, Rate         template.HTML
	Faults                []faultRow
	FailingKeys           []string
	HistoryHTML           string
	Logs                  []string
	Notes                 []string
	Explanations          []explainItem
}

type faultRow struct {
	Action, Start, End, Bit, BitClass, Evidence string
}

// Write renders dir/index.html, the run's report, from the files stored
// in the run directory.
func Write(dir string) error {
	var buf bytes.Buffer
	if err := render(&buf, os.DirFS(dir), dir, dir); err != nil {
		return fmt.Errorf("report %s: %w", dir, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, IndexFile), buf.Bytes()); err != nil {
		return fmt.Errorf("report %s: %w", dir, err)
	}
	return nil
}

// Render writes the report of the run directory fsys; name is the
// directory's path as a user would pass it to raftcheck check.
func Render(w io.Writer, fsys fs.FS, name string) error {
	return render(w, fsys, name, "")
}

// render is Render; viewDir, when set, is where the explanations' small
// views are written.
func render(w io.Writer, fsys fs.FS, name, viewDir string) error {
	r, err := load(fsys)
	if err != nil {
		return err
	}
	v := r.res.Verdict.String()
	p := page{Cfg: r.cfg, Res: r.res, ConfigJSON: r.cfgJSON, Dir: name,
		Nemesis: strings.Join(r.cfg.Nemesis, ", "), Started: r.res.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		Verdict: v, VerdictUpper: strings.ToUpper(v), VerdictText: verdictText(r.res),
		FailingKeys: r.res.FailingKeys, Logs: r.logs}
	if p.Nemesis == "" {
		p.Nemesis = "none"
	}
	if r.html {
		p.HistoryHTML = htmlFile
	}
	var end int64
	for _, e := range r.events {
		end = max(end, e.Time)
	}
	p.Span = time.Duration(end).Round(time.Millisecond).String()
	p.Ran, p.Checked = roundDuration(r.res.Duration), roundDuration(r.res.CheckDuration)
	ops := operations(r.events)
	spans := checker.FaultSpans(r.events)
	p.Counts = countOps(ops)
	p.Latency = latencyPlot(ops, spans, end)
	p.Rate = ratePlot(ops, spans, end)
	for _, f := range r.res.Faults {
		p.Faults = append(p.Faults, newFaultRow(f))
	}
	p.Notes = append(append(p.Notes, r.res.Notes...), r.notes...)
	if total := p.Counts[len(p.Counts)-1]; r.historyOK && (total.OK != r.res.Counts.OK ||
		total.Fail != r.res.Counts.Fail || total.Info != r.res.Counts.Info) {
		p.Notes = append(p.Notes, fmt.Sprintf("results.json counts %d ok, %d fail, %d info; the history has %d, %d, %d",
			r.res.Counts.OK, r.res.Counts.Fail, r.res.Counts.Info, total.OK, total.Fail, total.Info))
	}
	var notes []string
	p.Explanations, notes = explainRun(fsys, viewDir, r.res)
	p.Notes = append(p.Notes, notes...)
	if err := templates.ExecuteTemplate(w, "report.html.tmpl", p); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

func verdictText(res store.RunResult) string {
	var text string
	switch {
	case res.Invariant != "":
		text = "a Raft invariant broke: " + res.Invariant
	case res.Verdict == checker.Valid:
		text = "linearizable: every operation fits one order consistent with real time"
	case res.Verdict == checker.Invalid:
		text = fmt.Sprintf("not linearizable: %d key(s) have no valid order", len(res.FailingKeys))
	default:
		text = "unknown: the check did not finish in its time (it is not valid)"
	}
	if res.NotLive != "" {
		text += "; NOT LIVE: " + res.NotLive
	}
	return text
}

func newFaultRow(f store.Fault) faultRow {
	row := faultRow{Action: f.Action, Start: fmtSeconds(f.Start), End: "—", Evidence: f.Evidence,
		Bit: "unknown", BitClass: "bit-unknown"}
	if f.End != 0 {
		row.End = fmtSeconds(f.End)
	}
	if f.Bit != nil {
		row.Bit, row.BitClass = "yes", "bit-yes"
		if !*f.Bit {
			row.Bit, row.BitClass = "NO", "bit-no"
		}
	}
	return row
}

// writeFileAtomic writes path through a temporary file and a rename, so
// that a reader (raftcheck serve) never sees half a page.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
