package campaign

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Files a campaign writes into results/campaigns/<UTC timestamp>/.
const (
	Dir         = "campaigns"
	SummaryFile = "summary.json"
	IndexFile   = "index.html"
	// RunReport is the report each run directory holds.
	RunReport = "index.html"
)

// SummaryFormat names summary.json's format; SummaryVersion is its version.
const (
	SummaryFormat  = "raftcheck-campaign"
	SummaryVersion = 1
)

// Outcome is what a run means for the campaign, its verdict measured
// against what the spec expected.
type Outcome string

// The outcomes.
const (
	Pass    Outcome = "pass"    // the verdict the spec expected
	Fail    Outcome = "fail"    // a definite verdict other than expected
	Unknown Outcome = "unknown" // the check did not finish
	Error   Outcome = "error"   // the harness failed: no verdict
)

// Judge weighs a verdict against the expected one (checker.Valid or
// checker.Invalid).
func Judge(expect, verdict checker.Verdict) Outcome {
	switch {
	case verdict == checker.Unknown:
		return Unknown
	case verdict == expect:
		return Pass
	}
	return Fail
}

// Exit statuses of a campaign, those of raftcheck test.
const (
	ExitValid   = 0
	ExitInvalid = 1
	ExitUnknown = 2
	ExitHarness = 3
)

// Totals counts runs by outcome.
type Totals struct {
	Pass    int `json:"pass"`
	Fail    int `json:"fail"`
	Unknown int `json:"unknown"`
	Error   int `json:"error"`
}

// ExitCode is a campaign's exit status: 1 if any run failed (a safety
// violation, or an expected one not found), else 3 if the harness failed
// on any run (or the campaign was interrupted), else 2 if any check did
// not finish, else 0. A found violation is never masked by another run's
// trouble: CI reading 1 knows a bug was found.
func (t Totals) ExitCode(interrupted bool) int {
	switch {
	case t.Fail > 0:
		return ExitInvalid
	case t.Error > 0 || interrupted:
		return ExitHarness
	case t.Unknown > 0:
		return ExitUnknown
	}
	return ExitValid
}

// Record is one run as summary.json keeps it.
type Record struct {
	// Index is the run's place in the campaign's plan (Run.Index).
	Index  int              `json:"index"`
	Name   string           `json:"name"`
	Label  string           `json:"label"` // name and seed, unique in a campaign
	Rep    int              `json:"rep"`
	Repeat int              `json:"repeat"`
	Config store.TestConfig `json:"config"`
	Expect string           `json:"expect"`
	// Verdict is valid, invalid or unknown; empty when the harness failed.
	Verdict     string         `json:"verdict,omitempty"`
	Outcome     Outcome        `json:"outcome"`
	Error       string         `json:"error,omitempty"`
	Counts      checker.Counts `json:"counts"`
	FailingKeys []string       `json:"failing_keys,omitempty"`
	Notes       []string       `json:"notes,omitempty"`
	StartedAt   time.Time      `json:"started_at"`
	// Duration is the run's wall-clock time: cluster, run and check.
	Duration store.Duration `json:"duration"`
	// Dir is the run directory relative to the results root, with
	// slashes ("raftnode-register-sim/20260101T000000Z"); empty when the
	// harness failed before writing one.
	Dir string `json:"dir,omitempty"`
	// HTML is the linearizability view inside Dir, when it was written.
	HTML   string `json:"html,omitempty"`
	Replay string `json:"replay"`
	// Shrunk is the run directory (relative, like Dir) of the smallest
	// run found that fails the same way, when the spec asked to shrink.
	Shrunk string `json:"shrunk,omitempty"`
}

// NewRecord records a finished run: tc the configuration it ran with
// (resolved, if it got that far), res and dir as the runner returned them
// (dir under root), err its error.
func NewRecord(run Run, tc store.TestConfig, root string, started time.Time, wall time.Duration, res store.RunResult, dir string, err error) Record {
	r := Record{Index: run.Index, Name: run.Name, Label: run.Label(), Rep: run.Rep, Repeat: run.Repeat, Config: tc,
		Expect: run.Expect.String(), StartedAt: started.UTC(), Duration: store.Duration(wall), Replay: run.Replay}
	if dir != "" {
		if rel, rerr := filepath.Rel(root, dir); rerr == nil {
			r.Dir = filepath.ToSlash(rel)
		}
	}
	if res.Replay != "" {
		r.Replay = res.Replay // spelled out from the resolved configuration
	}
	if err != nil {
		r.Outcome, r.Error = Error, err.Error()
		return r
	}
	r.Verdict = res.Verdict.String()
	r.Outcome = Judge(run.Expect, res.Verdict)
	if res.NotLive != "" && res.Verdict != checker.Invalid {
		// Not live is a finding of its own: never what a spec expects.
		r.Verdict, r.Outcome = "not-live", Fail
	}
	r.Counts, r.FailingKeys, r.Notes, r.HTML = res.Counts, res.FailingKeys, res.Notes, res.HTML
	if res.Invariant != "" {
		r.Notes = append(r.Notes, "invariant broken: "+res.Invariant)
	}
	if res.NotLive != "" {
		r.Notes = append(r.Notes, "not live: "+res.NotLive)
	}
	return r
}

// Summary is summary.json: a campaign and its runs.
type Summary struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Name    string `json:"name"`
	Spec    string `json:"spec"`
	// SpecSHA256 is the digest of the spec file; CampaignSeed the seed the
	// entries without one drew theirs from. Shards to merge agree on both.
	SpecSHA256   string `json:"spec_sha256"`
	CampaignSeed uint64 `json:"campaign_seed"`
	// Shard is set when the campaign ran as shards: this summary's
	// shard. Planned is then the shard's runs.
	Shard *Shard `json:"shard,omitempty"`
	// Merged lists the shards' summaries a merged campaign came from, and
	// MissingShards those of its shards it lacks (the campaign is then
	// incomplete, as if interrupted).
	Merged        []string `json:"merged,omitempty"`
	MissingShards []int    `json:"missing_shards,omitempty"`
	// Results is the results root the run directories are relative to,
	// as given on the command line.
	Results   string         `json:"results"`
	StartedAt time.Time      `json:"started_at"`
	Duration  store.Duration `json:"duration"`
	Planned   int            `json:"planned"`
	// Done is false while the campaign runs (the files are rewritten
	// after every run) and when it was interrupted.
	Done        bool     `json:"done"`
	Interrupted bool     `json:"interrupted,omitempty"`
	Totals      Totals   `json:"totals"`
	ExitCode    int      `json:"exit_code"`
	Runs        []Record `json:"runs"`
}

// NewSummary starts the summary of a campaign of planned runs.
func NewSummary(spec *Spec, results string, planned int, started time.Time) *Summary {
	return &Summary{Format: SummaryFormat, Version: SummaryVersion, Name: spec.Name, Spec: spec.File,
		SpecSHA256: spec.SHA256, CampaignSeed: spec.Seed, Results: results, StartedAt: started.UTC(), Planned: planned, Runs: []Record{}}
}

// Add appends a run and updates the totals and exit status.
func (s *Summary) Add(r Record) {
	s.Runs = append(s.Runs, r)
	switch r.Outcome {
	case Pass:
		s.Totals.Pass++
	case Fail:
		s.Totals.Fail++
	case Unknown:
		s.Totals.Unknown++
	default:
		s.Totals.Error++
	}
	s.ExitCode = s.Totals.ExitCode(s.Interrupted)
}

// Finish closes the summary: done, or interrupted before all planned
// runs ran.
func (s *Summary) Finish(now time.Time, interrupted bool) {
	s.Duration = store.Duration(now.Sub(s.StartedAt))
	s.Interrupted = interrupted
	s.Done = !interrupted
	s.ExitCode = s.Totals.ExitCode(interrupted)
}

// Write writes summary.json and index.html into the campaign directory,
// each atomically, so a reader never sees half a file.
func (s *Summary) Write(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, SummaryFile), append(b, '\n')); err != nil {
		return err
	}
	page, err := s.HTML()
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, IndexFile), page)
}

// ReadSummary reads a campaign's summary.json.
func ReadSummary(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Format != SummaryFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", path, s.Format, SummaryFormat)
	}
	return &s, nil
}

// writeAtomic writes a file through a temporary one and a rename.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
