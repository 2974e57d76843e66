package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// campaignsDir holds the campaigns' directories, beside the tests'.
const campaignsDir = "campaigns"

// summaryFile is a campaign's summary, written by harness/campaign.
const summaryFile = "summary.json"

// RunEntry is a run of the store as the index lists it.
type RunEntry struct {
	Test, ID    string // the run directory is <root>/<Test>/<ID>
	Path        string // its slash-separated path from the root
	Err         string // why results.json or test.json could not be read
	Verdict     checker.Verdict
	StartedAt   time.Time
	Duration    string
	Counts      checker.Counts
	FailingKeys []string
	Faults      int
	Backend     string
	Nodes       int
	Nemesis     []string
	Seed        uint64
	Unsafe      string
	Replay      string
	Report      bool // index.html exists
	HistoryHTML bool // history.html exists
}

// ListRuns lists the runs of the store fsys, <test>/<timestamp>/ with a
// results.json (runs still writing have none yet), newest first.
func ListRuns(fsys fs.FS) ([]RunEntry, error) {
	tests, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var runs []RunEntry
	for _, t := range tests {
		if !t.IsDir() || t.Name() == campaignsDir || strings.HasPrefix(t.Name(), ".") {
			continue
		}
		dirs, err := fs.ReadDir(fsys, t.Name())
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		for _, d := range dirs {
			p := t.Name() + "/" + d.Name()
			if !d.IsDir() || strings.HasPrefix(d.Name(), ".") || !exists(fsys, p+"/"+resultsFile) {
				continue
			}
			runs = append(runs, readRun(fsys, t.Name(), d.Name()))
		}
	}
	slices.SortFunc(runs, func(a, b RunEntry) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.Path, a.Path)
	})
	return runs, nil
}

func readRun(fsys fs.FS, test, id string) RunEntry {
	p := test + "/" + id
	e := RunEntry{Test: test, ID: id, Path: p, Report: exists(fsys, p+"/"+IndexFile), HistoryHTML: exists(fsys, p+"/"+htmlFile)}
	var res store.RunResult
	var cfg store.TestConfig
	if err := errors.Join(store.ReadJSON(fsys, p+"/"+resultsFile, &res), store.ReadJSON(fsys, p+"/"+testFile, &cfg)); err != nil {
		e.Err = err.Error()
	}
	e.Verdict, e.StartedAt, e.Duration, e.Counts, e.FailingKeys = res.Verdict, res.StartedAt, roundDuration(res.Duration), res.Counts, res.FailingKeys
	e.Faults, e.Replay = len(res.Faults), res.Replay
	e.Backend, e.Nodes, e.Nemesis, e.Seed, e.Unsafe = cfg.Backend, cfg.Nodes, cfg.Nemesis, cfg.Seed, cfg.Unsafe
	return e
}

// CampaignEntry is a campaign of the store: <root>/campaigns/<ID>/,
// from its summary.json (harness/campaign's) when it has one.
type CampaignEntry struct {
	ID, Path  string
	Name      string
	StartedAt time.Time
	Err       string // why summary.json could not be read
	Summary   bool   // summary.json exists
	Report    bool   // index.html exists
	Done      bool
	// Interrupted: stopped before all its runs.
	Interrupted bool
	Planned     int
	Runs        int
	// Totals count the runs by outcome: a run passes when its verdict is
	// the one the spec expected.
	Totals   struct{ Pass, Fail, Unknown, Error int }
	ExitCode int
}

// Status says in a word how the campaign went.
func (c CampaignEntry) Status() string {
	switch {
	case c.Err != "":
		return "unreadable"
	case !c.Summary:
		return "no summary"
	case c.ExitCode == 1:
		return "failed"
	case c.Interrupted:
		return "interrupted"
	case !c.Done:
		return "running"
	case c.ExitCode == 0:
		return "passed"
	case c.ExitCode == 2:
		return "unknown"
	}
	return "harness error"
}

// Class is the color the index gives the campaign, as a run's verdict's.
func (c CampaignEntry) Class() string {
	switch c.Status() {
	case "passed":
		return "valid"
	case "failed", "harness error", "unreadable":
		return "invalid"
	}
	return "unknown"
}

// ListCampaigns lists root/campaigns/*/, newest first.
func ListCampaigns(fsys fs.FS) ([]CampaignEntry, error) {
	dirs, err := fs.ReadDir(fsys, campaignsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	var out []CampaignEntry
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		out = append(out, readCampaign(fsys, d.Name()))
	}
	// Their directories are named by UTC timestamp, summary or not.
	slices.SortFunc(out, func(a, b CampaignEntry) int { return cmp.Compare(b.ID, a.ID) })
	return out, nil
}

func readCampaign(fsys fs.FS, id string) CampaignEntry {
	p := campaignsDir + "/" + id
	c := CampaignEntry{ID: id, Path: p, Name: id, Report: exists(fsys, p+"/"+IndexFile), Summary: exists(fsys, p+"/"+summaryFile)}
	if !c.Summary {
		return c
	}
	var s struct {
		Name        string    `json:"name"`
		StartedAt   time.Time `json:"started_at"`
		Planned     int       `json:"planned"`
		Done        bool      `json:"done"`
		Interrupted bool      `json:"interrupted"`
		ExitCode    int       `json:"exit_code"`
		Totals      struct {
			Pass    int `json:"pass"`
			Fail    int `json:"fail"`
			Unknown int `json:"unknown"`
			Error   int `json:"error"`
		} `json:"totals"`
		Runs []json.RawMessage `json:"runs"`
	}
	if err := store.ReadJSON(fsys, p+"/"+summaryFile, &s); err != nil {
		c.Err = err.Error()
		return c
	}
	c.StartedAt, c.Planned, c.Done, c.Interrupted, c.ExitCode, c.Runs = s.StartedAt, s.Planned, s.Done, s.Interrupted, s.ExitCode, len(s.Runs)
	c.Totals.Pass, c.Totals.Fail, c.Totals.Unknown, c.Totals.Error = s.Totals.Pass, s.Totals.Fail, s.Totals.Unknown, s.Totals.Error
	if s.Name != "" {
		c.Name = s.Name
	}
	return c
}

// indexPage is what index.html.tmpl shows.
type indexPage struct {
	Root      string
	Runs      []RunEntry
	Campaigns []CampaignEntry
	Valid     int
	Invalid   int
	Unknown   int
}

// RenderIndex writes the index of the store fsys; root names it.
func RenderIndex(w io.Writer, fsys fs.FS, root string) error {
	runs, err := ListRuns(fsys)
	if err != nil {
		return err
	}
	camps, err := ListCampaigns(fsys)
	if err != nil {
		return err
	}
	p := indexPage{Root: root, Runs: runs, Campaigns: camps}
	for _, r := range runs {
		switch r.Verdict {
		case checker.Valid:
			p.Valid++
		case checker.Invalid:
			p.Invalid++
		default:
			p.Unknown++
		}
	}
	if err := templates.ExecuteTemplate(w, "index.html.tmpl", p); err != nil {
		return fmt.Errorf("render index: %w", err)
	}
	return nil
}

// WriteIndex writes root/index.html, the index of the store's runs and
// campaigns as they are now.
func WriteIndex(root string) error {
	var buf bytes.Buffer
	if err := RenderIndex(&buf, os.DirFS(root), root); err != nil {
		return fmt.Errorf("index of %s: %w", root, err)
	}
	return writeFileAtomic(filepath.Join(root, IndexFile), buf.Bytes())
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, path.Clean(name))
	return err == nil
}
