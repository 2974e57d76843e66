// Package report renders the HTML pages of the results store: a run's
// report (index.html in its run directory), drawn from the run's stored
// files only, and the store's index of runs and campaigns.
//
// The files' schema is harness/store's; harness calls this package after
// storing a run.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// IndexFile is the report of a run directory and the index of the
// store.
const IndexFile = "index.html"

// The run directory's files, as the store names them.
const (
	testFile    = store.TestFile
	resultsFile = store.ResultsFile
	historyFile = store.HistoryFile
	htmlFile    = store.HTMLFile
)

// run is a run directory as stored.
type run struct {
	cfg       store.TestConfig
	cfgJSON   string // test.json, indented, for the full configuration
	res       store.RunResult
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
	if err := store.ReadJSON(fsys, resultsFile, &r.res); err != nil {
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
