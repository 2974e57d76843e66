package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftcheck/raftcheck/checker"
)

// File names inside a run directory.
const (
	TestFile    = "test.json"
	HistoryFile = "history.jsonl"
	ResultsFile = "results.json"
	HTMLFile    = "history.html"
	LatestLink  = "latest"
)

// RunResult is results.json: the verdict and the figures of one run.
type RunResult struct {
	Test          string             `json:"test"`
	Verdict       checker.Verdict    `json:"verdict"`
	Counts        checker.Counts     `json:"counts"`
	FailingKeys   []string           `json:"failing_keys,omitempty"`
	Latency       map[string]Latency `json:"latency"`
	StartedAt     time.Time          `json:"started_at"`
	Duration      Duration           `json:"duration"`
	CheckDuration Duration           `json:"check_duration"`
	Faults        []Fault            `json:"faults,omitempty"`
	Replay        string             `json:"replay"`
	HTML          string             `json:"html,omitempty"`
	// Notes hold backend observations: nodes that stopped on an error,
	// faults that did not bite, simulator statistics.
	Notes []string `json:"notes,omitempty"`
}

// Fault is a nemesis action as it happened.
type Fault struct {
	Action string `json:"action"`
	Start  int64  `json:"start_ns"`
	End    int64  `json:"end_ns,omitempty"`
	// Bit reports whether the fault was seen to take effect; Evidence
	// says how. Nil when the backend cannot tell.
	Bit      *bool  `json:"bit,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// NewRunDir creates results/<test>/<UTC timestamp>/, adding a suffix if
// a run of the same second exists.
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

// WriteHistory writes events as history.jsonl in dir.
func WriteHistory(dir string, events []checker.Event) error {
	f, err := os.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	w, err := checker.NewWriter(bw)
	if err == nil {
		for _, e := range events {
			if err = w.Write(e); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// WriteHTMLView renders the history's linearizability view into dir.
func WriteHTMLView(dir string, res checker.Result, events []checker.Event, all bool) (string, error) {
	path := filepath.Join(dir, HTMLFile)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	err = checker.WriteHTML(f, res, events, checker.HTMLOptions{All: all})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write HTML view: %w", err)
	}
	return HTMLFile, nil
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
