// Package report renders the HTML pages of the results store: a run's
// report (index.html in its run directory), drawn from the run's stored
// files only, and the store's index of runs and campaigns.
//
// It reads test.json and results.json itself rather than importing
// harness's types, so that harness can call it without an import cycle.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/raftcheck/raftcheck/checker"
)

// File names inside a run directory (the same as harness's).
const (
	testFile    = "test.json"
	resultsFile = "results.json"
	historyFile = "history.jsonl"
	htmlFile    = "history.html"
	// IndexFile is the report of a run directory and the index of the
	// store.
	IndexFile = "index.html"
)

// testConfig is what the report needs of test.json.
type testConfig struct {
	Name         string   `json:"name"`
	Backend      string   `json:"backend"`
	Target       string   `json:"target"`
	Nodes        int      `json:"nodes"`
	Workload     string   `json:"workload"`
	Nemesis      []string `json:"nemesis"`
	TimeLimit    string   `json:"time_limit"`
	Concurrency  int      `json:"concurrency"`
	Rate         float64  `json:"rate"`
	Seed         uint64   `json:"seed"`
	Unsafe       string   `json:"unsafe"`
	CheckTimeout string   `json:"check_timeout"`
}

// runResult is what the report needs of results.json.
type runResult struct {
	Test          string          `json:"test"`
	Verdict       checker.Verdict `json:"verdict"`
	Counts        checker.Counts  `json:"counts"`
	FailingKeys   []string        `json:"failing_keys"`
	StartedAt     time.Time       `json:"started_at"`
	Duration      string          `json:"duration"`
	CheckDuration string          `json:"check_duration"`
	Faults        []fault         `json:"faults"`
	Replay        string          `json:"replay"`
	HTML          string          `json:"html"`
	Notes         []string        `json:"notes"`
}

// fault is a nemesis action as results.json records it.
type fault struct {
	Action   string `json:"action"`
	Start    int64  `json:"start_ns"`
	End      int64  `json:"end_ns"`
	Bit      *bool  `json:"bit"`
	Evidence string `json:"evidence"`
}

// run is a run directory as stored.
type run struct {
	cfg       testConfig
	cfgJSON   string // test.json, indented, for the full configuration
	res       runResult
	events    []checker.Event
	historyOK bool     // history.jsonl was read
	notes     []string // problems met while reading
	logs      []string // nodes/*.log, relative to the run directory
	html      bool     // history.html exists
}

// load reads a run directory. test.json and results.json are required;
// a missing or unreadable history becomes a note.
func load(fsys fs.FS) (*run, error) {
	r := &run{}
	b, err := fs.ReadFile(fsys, testFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", testFile, err)
	}
	if err := json.Unmarshal(b, &r.cfg); err != nil {
		return nil, fmt.Errorf("parse %s: %w", testFile, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, b, "", "  ") == nil {
		r.cfgJSON = pretty.String()
	}
	if err := readJSON(fsys, resultsFile, &r.res); err != nil {
		return nil, err
	}
	f, err := fsys.Open(historyFile)
	if err == nil {
		r.events, err = checker.ReadAll(f)
		f.Close()
	}
	switch {
	case err == nil:
		r.historyOK = true
	case errors.Is(err, fs.ErrNotExist):
		r.notes = append(r.notes, "no "+historyFile+": the figures below are empty")
	default:
		r.notes = append(r.notes, fmt.Sprintf("%s could not be read, the figures below are empty: %v", historyFile, err))
	}
	r.logs, _ = fs.Glob(fsys, "nodes/*.log")
	_, err = fs.Stat(fsys, htmlFile)
	r.html = err == nil
	return r, nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}
