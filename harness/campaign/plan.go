package campaign

import (
	"errors"
	"fmt"
	"math"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Resolved is an entry turned into a test configuration.
type Resolved struct {
	// Config is complete and valid; its Seed is the first repetition's.
	Config store.TestConfig
	// SeedGiven reports whether the spec chose the seed; if not, Config's
	// seed was chosen at random.
	SeedGiven bool
	// Image is the docker image the entry names (--image), if any.
	Image string
}

// A Resolver turns an entry's settings into a test configuration exactly
// (the index-th of the spec) as `raftcheck test` would from the same
// flags. An error may be placed at a setting's line with AtLine; others
// are placed at the entry.
type Resolver func(index int, e Entry) (Resolved, error)

// Run is one run of a campaign: an entry at one seed.
type Run struct {
	// Index is the run's place in the whole campaign's plan, from 0; a
	// shard runs those with Index%N == I-1, and Merge orders by it.
	Index  int
	Entry  int    // index in Spec.Entries
	Name   string // the entry's name, or its test's name
	Rep    int    // 1..Repeat
	Repeat int
	Expect checker.Verdict
	Config store.TestConfig
	Replay string // the command line that runs it again
	// SeedChosen marks the first repetition of an entry whose seed was
	// chosen at random.
	SeedChosen bool
	// Within > 0 makes the run a search over Within seeds from its seed
	// for an invalid one (Entry.Within).
	Within int
	// Image is the docker image the entry names (--image), if any.
	Image string
	// Shrink: a failing simulated run is shrunk too (Entry.Shrink).
	Shrink bool
}

// Label names the run in output and reports: its name and seed.
func (r Run) Label() string { return fmt.Sprintf("%s seed %d", r.Name, r.Config.Seed) }

// Plan resolves every entry and expands repeat into runs: repetition i
// (from 0) of an entry runs at its seed + i. Every entry's errors are
// reported together, each with its file and line.
func (s *Spec) Plan(resolve Resolver) ([]Run, error) {
	var runs []Run
	var errs []error
	for i, e := range s.Entries {
		r, err := resolve(i, e)
		if err == nil && r.Config.Seed > math.MaxUint64-uint64(max(e.Repeat, e.Within)-1) {
			err = fmt.Errorf("seed %d + repeat %d overflows: choose a smaller seed", r.Config.Seed, e.Repeat)
		}
		if err == nil && e.Within > 0 && r.Config.Backend != "sim" {
			err = fmt.Errorf("within: searches seeds in the simulator; this run's backend is %s", r.Config.Backend)
		}
		if err != nil {
			errs = append(errs, s.place(i, e, err))
			continue
		}
		name := e.Name
		if name == "" {
			name = r.Config.Name
		}
		for rep := range e.Repeat {
			cfg := r.Config
			cfg.Seed += uint64(rep)
			replay := cfg.ReplayCommand()
			if r.Image != "" {
				replay += " --image " + r.Image
			}
			runs = append(runs, Run{Index: len(runs), Entry: i, Name: name, Rep: rep + 1, Repeat: e.Repeat, Expect: e.Expect,
				Config: cfg, Replay: replay, SeedChosen: rep == 0 && !r.SeedGiven, Within: e.Within, Image: r.Image,
				Shrink: e.Shrink})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return runs, nil
}

// place puts a resolver's error at its line of the spec, naming the
// entry. Joined errors (e.g. TestConfig.Validate's) are placed one by one.
func (s *Spec) place(i int, e Entry, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, c := range j.Unwrap() {
			errs = append(errs, s.place(i, e, c))
		}
		return errors.Join(errs...)
	}
	line := e.Line
	if le, ok := errors.AsType[*LineError](err); ok {
		line, err = le.Line, le.Err
	}
	return &LineError{File: s.File, Line: line, Err: fmt.Errorf("%s: %w", e.Label(i), err)}
}
