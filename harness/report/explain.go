package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// statusesFile holds the nodes' sampled states, one JSON object per line
// (checker.StatusSample). Runs stored before it existed have none.
const statusesFile = store.StatusesFile

// maxExplained is how many failing keys a report explains: the first few
// say what went wrong; more would only make the page slow to render.
const maxExplained = 3

// explainBudget bounds the search for one key's explanation.
const explainBudget = 5 * time.Second

// explainItem is one failing key's explanation as the report shows it.
type explainItem struct {
	Key, Anomaly, Headline string
	Operations             []string
	Conclusion             string
	Faults                 string // "none" when no fault was in force
	Nodes                  []string
	Minimal                bool
	View                   string // the small view's file, relative to the run directory; empty if none
}

// explainRun explains the first failing keys of an invalid run from its
// stored files. When viewDir is set (the run directory on disk), each
// explanation's small porcupine view is written there; otherwise a view is
// linked only if one is already stored. Problems become notes: an
// explanation is a help, never a reason for the report to fail.
func explainRun(fsys fs.FS, viewDir string, res store.RunResult) (items []explainItem, notes []string) {
	if res.Verdict != checker.Invalid || len(res.FailingKeys) == 0 {
		return nil, nil
	}
	events, err := readHistory(fsys)
	if err != nil {
		return nil, []string{"no explanation: " + err.Error()}
	}
	statuses, err := readStatuses(fsys)
	if err != nil {
		notes = append(notes, fmt.Sprintf("%s could not be read, the explanation leaves out the nodes' states: %v", statusesFile, err))
	}
	keys := res.FailingKeys
	if len(keys) > maxExplained {
		notes = append(notes, fmt.Sprintf("%d keys failed; the explanation covers the first %d", len(keys), maxExplained))
		keys = keys[:maxExplained]
	}
	for _, key := range keys {
		x, err := checker.Explain(context.Background(), events, key, checker.ExplainOptions{Statuses: statuses, Timeout: explainBudget})
		if errors.Is(err, checker.ErrNotExplained) {
			notes = append(notes, fmt.Sprintf("key %s: no explanation found in %v", key, explainBudget))
			continue
		}
		if err != nil {
			notes = append(notes, "no explanation: "+err.Error())
			continue
		}
		item := explainItem{Key: x.Key, Anomaly: string(x.Anomaly), Headline: x.Headline, Operations: x.Operations,
			Conclusion: x.Conclusion, Faults: "none", Nodes: x.Nodes, Minimal: x.Minimal}
		if len(x.Faults) > 0 {
			item.Faults = strings.Join(x.Faults, "; ")
		}
		name := viewName(key)
		switch {
		case viewDir != "":
			if err := writeView(filepath.Join(viewDir, name), x); err != nil {
				notes = append(notes, err.Error())
			} else {
				item.View = name
			}
		case exists(fsys, name):
			item.View = name
		}
		items = append(items, item)
	}
	return items, notes
}

func readHistory(fsys fs.FS) ([]checker.Event, error) {
	f, err := fsys.Open(historyFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", historyFile, err)
	}
	defer f.Close()
	return checker.ReadAll(f)
}

// readStatuses reads statuses.jsonl; a run without one has no samples.
func readStatuses(fsys fs.FS) ([]checker.StatusSample, error) {
	f, err := fsys.Open(statusesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return checker.ReadStatuses(f)
}

func writeView(path string, x *checker.Explanation) error {
	var buf bytes.Buffer
	if err := x.WriteHTML(&buf); err != nil {
		return fmt.Errorf("no view of the explanation: %w", err)
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("no view of the explanation: %w", err)
	}
	return nil
}

// viewName is explain-<key>.html, with characters a file name or a URL
// would mangle replaced, and then a hash of the key so that two keys never
// share a file.
func viewName(key string) string {
	safe := []byte(key)
	changed := false
	for i, c := range safe {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			safe[i], changed = '_', true
		}
	}
	if !changed && len(safe) <= 64 {
		return "explain-" + key + ".html"
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return fmt.Sprintf("explain-%.64s-%08x.html", safe, h.Sum32())
}
