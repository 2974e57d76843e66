package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/raftcheck/raftcheck/checker"
)

// RunResult is results.json: the verdict and the figures of one run.
type RunResult struct {
	Test string `json:"test"`
	// Verdict is the linearizability checker's, made invalid by a broken
	// invariant (Invariant) whatever the history.
	Verdict checker.Verdict `json:"verdict"`
	// Invariant names the first Raft invariant the run broke, where the
	// backend checks them (the simulator).
	Invariant string `json:"invariant,omitempty"`
	// NotLive says how the cluster failed to elect a leader and
	// acknowledge a write within 10 election timeouts of the final heal;
	// empty when it did.
	NotLive       string             `json:"not_live,omitempty"`
	Counts        checker.Counts     `json:"counts"`
	FailingKeys   []string           `json:"failing_keys,omitempty"`
	Latency       map[string]Latency `json:"latency"`
	StartedAt     time.Time          `json:"started_at"`
	Duration      Duration           `json:"duration"`
	CheckDuration Duration           `json:"check_duration"`
	// Faults are the faults injected, each from its invocation to the
	// completion of the action that undid it, whatever the backend.
	Faults []Fault `json:"faults,omitempty"`
	Replay string  `json:"replay"`
	HTML   string  `json:"html,omitempty"`
	// Notes hold backend observations: nodes that stopped on an error,
	// faults that did not bite, simulator statistics.
	Notes []string `json:"notes,omitempty"`
}

// Exit statuses of a run, and of raftcheck: Jepsen's, plus harness
// failures and liveness.
const (
	ExitValid   = 0
	ExitInvalid = 1 // not linearizable, or a Raft invariant broken
	ExitUnknown = 2 // the check did not finish
	ExitHarness = 3 // the harness could not do its job
	ExitNotLive = 4 // safe as far as seen, but no service after the final heal
)

// ExitCode is the exit status a run's result calls for: a safety
// violation first, then a liveness failure, then an unfinished check.
func (r RunResult) ExitCode() int {
	switch {
	case r.Verdict == checker.Invalid:
		return ExitInvalid
	case r.NotLive != "":
		return ExitNotLive
	case r.Verdict == checker.Unknown:
		return ExitUnknown
	}
	return ExitValid
}

// Latency summarises completed operations' latencies.
type Latency struct {
	Count int      `json:"count"`
	P50   Duration `json:"p50"`
	P99   Duration `json:"p99"`
	Max   Duration `json:"max"`
}

// Fault is one fault as it happened: the action that caused it, from its
// invocation (Start) to the completion of the action that undid it (End;
// 0 if nothing did before the run ended).
type Fault struct {
	Action string `json:"action"`
	Start  int64  `json:"start_ns"`
	End    int64  `json:"end_ns,omitempty"`
	// Bit reports whether the fault was seen to take effect; Evidence
	// says how. Nil when the backend cannot tell.
	Bit      *bool  `json:"bit,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// StatusSample is one line of statuses.jsonl: a node's state at one
// instant, as the engine samples it. The checker owns the type (its
// explanations read it, and it cannot import this package).
type StatusSample = checker.StatusSample

// WriteHistory writes events as dir/history.jsonl.
func WriteHistory(dir string, events []checker.Event) error {
	err := writeFile(filepath.Join(dir, HistoryFile), func(w io.Writer) error {
		hw, err := checker.NewWriter(w)
		if err != nil {
			return err
		}
		for _, e := range events {
			if err := hw.Write(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}

// WriteStatuses writes samples as dir/statuses.jsonl.
func WriteStatuses(dir string, samples []StatusSample) error {
	err := writeFile(filepath.Join(dir, StatusesFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, s := range samples {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write statuses: %w", err)
	}
	return nil
}

func writeFile(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteHTMLView renders the history's linearizability view into dir.
func WriteHTMLView(dir string, res checker.Result, events []checker.Event, all bool) (string, error) {
	err := writeFile(filepath.Join(dir, HTMLFile), func(w io.Writer) error {
		return checker.WriteHTML(w, res, events, checker.HTMLOptions{All: all})
	})
	if err != nil {
		return "", fmt.Errorf("write HTML view: %w", err)
	}
	return HTMLFile, nil
}

// Run is a stored run as read back: its configuration and results.
type Run struct {
	Dir    string
	Config TestConfig
	Result RunResult
}

// ReadRun reads a run directory's test.json and results.json.
func ReadRun(dir string) (Run, error) {
	r := Run{Dir: dir}
	fsys := os.DirFS(dir)
	if err := ReadJSON(fsys, TestFile, &r.Config); err != nil {
		return r, fmt.Errorf("%s: %w", dir, err)
	}
	if err := ReadJSON(fsys, ResultsFile, &r.Result); err != nil {
		return r, fmt.Errorf("%s: %w", dir, err)
	}
	return r, nil
}

// ReadTest reads a run directory's test.json, or a test.json file.
func ReadTest(path string) (TestConfig, error) {
	var tc TestConfig
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, TestFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return tc, fmt.Errorf("read the run's configuration: %w", err)
	}
	if err := json.Unmarshal(b, &tc); err != nil {
		return tc, fmt.Errorf("parse %s: %w", path, err)
	}
	return tc, nil
}
