// Package store owns the results store's schema: the files of a run
// directory (test.json, history.jsonl, statuses.jsonl, results.json, the
// HTML view), their Go types, and results/latest. The engine writes them,
// the report, the campaign runner and the CLI read them; nobody else
// declares them.
//
// Layout: ROOT/<test name>/<UTC timestamp>/ holds one run; ROOT/latest
// links to the newest run; ROOT/campaigns/<UTC timestamp>/ holds a
// campaign's summary.
package store

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names inside a run directory.
const (
	TestFile     = "test.json"
	HistoryFile  = "history.jsonl"
	StatusesFile = "statuses.jsonl"
	ResultsFile  = "results.json"
	HTMLFile     = "history.html"
	// NodesDir holds the nodes' logs, one file per node (docker runs).
	NodesDir   = "nodes"
	LatestLink = "latest"
)

// Duration is a time.Duration that reads and writes JSON as "30s".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// NewRunDir creates root/<test>/<UTC timestamp>/, adding a suffix if a
// run of the same second exists.
func NewRunDir(root, test string, now time.Time) (string, error) {
	base := filepath.Join(root, test, now.UTC().Format("20060102T150405Z"))
	dir := base
	for i := 2; ; i++ {
		err := os.MkdirAll(filepath.Dir(dir), 0o755)
		if err == nil {
			err = os.Mkdir(dir, 0o755)
		}
		if err == nil {
			return dir, nil
		}
		if !os.IsExist(err) {
			return "", fmt.Errorf("create run directory: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}

// WriteJSON writes v as indented JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads path's JSON into v, naming the file in its errors.
func ReadJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

// PointLatest makes root/latest a symlink to dir, replacing it
// atomically.
func PointLatest(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return err
	}
	tmp := filepath.Join(root, fmt.Sprintf(".latest-%d", os.Getpid()))
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("link latest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(root, LatestLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link latest: %w", err)
	}
	return nil
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
