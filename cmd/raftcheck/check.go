package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/report"
	"github.com/raftcheck/raftcheck/harness/store"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("raftcheck check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("check-timeout", 5*time.Minute, "bound on the check; past it the verdict is unknown")
	html := fs.Bool("html", false, "write the HTML view even for a valid history")
	if err := fs.Parse(args); err != nil {
		return exitHarness, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return exitHarness, fmt.Errorf("%w: want one PATH: a run directory or a history.jsonl file", errUsage)
	}
	path := fs.Arg(0)
	dir, file := path, filepath.Join(path, store.HistoryFile)
	if st, err := os.Stat(path); err != nil {
		return exitHarness, fmt.Errorf("%s: %w", path, err)
	} else if !st.IsDir() {
		dir, file = filepath.Dir(path), path
	}
	events, err := checker.ReadFile(file)
	if err != nil {
		return exitHarness, err
	}
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := checker.Check(cctx, events)
	if err != nil {
		return exitHarness, err
	}
	fmt.Fprintf(stdout, "%s: %d ok, %d fail, %d info: %s", file, res.Counts.OK, res.Counts.Fail, res.Counts.Info,
		strings.ToUpper(res.Verdict.String()))
	if f := res.Failing(); len(f) > 0 {
		fmt.Fprintf(stdout, " (keys %s)", strings.Join(f, ", "))
	}
	fmt.Fprintln(stdout)
	if res.Verdict != checker.Valid || *html {
		name, err := store.WriteHTMLView(dir, res, events, *html)
		if err != nil {
			return exitHarness, err
		}
		fmt.Fprintf(stdout, "view: %s\n", filepath.Join(dir, name))
	}
	if err := rerender(dir, res.Verdict, stdout); err != nil {
		return exitHarness, err
	}
	return exitCode(res.Verdict), nil
}

// rerender renders the report of a run directory again from its stored
// files; a history file outside a run directory has none. The report
// shows the stored verdict: a different one now is worth a line.
func rerender(dir string, now checker.Verdict, stdout io.Writer) error {
	var stored store.RunResult
	b, err := os.ReadFile(filepath.Join(dir, store.ResultsFile))
	if errors.Is(err, fs.ErrNotExist) || !store.Exists(filepath.Join(dir, store.TestFile)) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &stored)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", store.ResultsFile, err)
	}
	if stored.Verdict != now {
		fmt.Fprintf(stdout, "note: %s records %s; the report shows the stored verdict\n", store.ResultsFile, strings.ToUpper(stored.Verdict.String()))
	}
	if err := report.Write(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, report.IndexFile))
	return nil
}
