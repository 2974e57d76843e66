package mutants

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/raftcheck/raftcheck/harness/sim"
	"github.com/raftcheck/raftcheck/harness/store"
)

// netFeature is one of the simulator's harsher network features (the
// ones beyond loss, duplication and latency), with how to switch it off
// in a run's knobs.
type netFeature struct {
	name string
	off  func(*sim.NetConfig)
}

var netFeatures = []netFeature{
	{"slow links", func(c *sim.NetConfig) { c.SlowEvery, c.SlowFor, c.SlowMin, c.SlowMax = 0, 0, 0, 0 }},
	{"one-way cuts", func(c *sim.NetConfig) { c.OneWayEvery, c.OneWayFor = 0, 0 }},
	{"holding partitions", func(c *sim.NetConfig) { c.HoldFrac, c.ReleaseSpread = 0, 0 }},
	{"late duplicates", func(c *sim.NetConfig) { c.LateDup, c.LateMin, c.LateMax = 0, 0, 0 }},
	{"paused outbound", func(c *sim.NetConfig) { c.OutboundWindow = 0 }},
	{"redial", func(c *sim.NetConfig) { c.RedialWindow = 0 }},
}

// Ablation says which network features a sim catch needed: its first
// failing seed run again with each feature off in turn (the seed's other
// knobs kept), then with all of them off. A feature without which the
// seed passes was needed there. One seed is evidence, not a proof: with
// a feature off, every later message moves, and another seed may catch
// the mutant without it.
type Ablation struct {
	// Needed are the features without which the first seed passed.
	Needed []string `json:"needed,omitempty"`
	// Plain: the seed still failed with every feature off (the network
	// of loss, duplication and latency alone was enough).
	Plain bool `json:"plain"`
	// Error: the ablation could not be made (the seed passed when run
	// alone, a run failed).
	Error string `json:"error,omitempty"`
}

// ablate runs the ablation of seed with the mutant's raftcheck binary.
func ablate(ctx context.Context, bin, tmp string, seed uint64, opt Options) Ablation {
	dir := filepath.Join(tmp, "ablation")
	defer os.RemoveAll(dir)
	args := []string{"test", "--backend", "sim", "--seed", strconv.FormatUint(seed, 10), "--results", filepath.Join(dir, "base")}
	if opt.TimeLimit != "" {
		args = append(args, "--time-limit", opt.TimeLimit)
	}
	failed, err := failingRun(ctx, bin, args...)
	if err != nil {
		return Ablation{Error: err.Error()}
	}
	if !failed {
		return Ablation{Error: fmt.Sprintf("seed %d passed when run alone", seed)}
	}
	tc, err := store.ReadTest(filepath.Join(dir, "base", "latest"))
	if err != nil {
		return Ablation{Error: err.Error()}
	}
	var k sim.Knobs
	if err := json.Unmarshal(tc.BackendConfig, &k); err != nil {
		return Ablation{Error: fmt.Sprintf("the run's knobs: %v", err)}
	}
	variant := func(name string, off ...netFeature) (bool, error) {
		v := k
		for _, f := range off {
			f.off(&v.Net)
		}
		vc := tc
		b, err := json.Marshal(v)
		if err != nil {
			return false, err
		}
		vc.BackendConfig = b
		path := filepath.Join(dir, name+".json")
		if err := store.WriteJSON(path, vc); err != nil {
			return false, err
		}
		return failingRun(ctx, bin, "test", "--replay", path, "--results", filepath.Join(dir, "variants"))
	}
	var a Ablation
	for i, f := range netFeatures {
		failed, err := variant(strconv.Itoa(i), f)
		if err != nil {
			return Ablation{Error: err.Error()}
		}
		if !failed {
			a.Needed = append(a.Needed, f.name)
		}
	}
	if a.Plain, err = variant("plain", netFeatures...); err != nil {
		return Ablation{Error: err.Error()}
	}
	return a
}

// failingRun runs raftcheck test and reports whether its verdict was a
// failure the sim counts (exit 1: not linearizable or an invariant; 4:
// not live).
func failingRun(ctx context.Context, bin string, args ...string) (bool, error) {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false, nil
	case errors.As(err, &ee) && (ee.ExitCode() == 1 || ee.ExitCode() == 4):
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		return false, nil // unknown: not a catch
	}
	return false, fmt.Errorf("%s: %v: %s", bin, err, firstLine(string(out)))
}

// String is the table's cell: the features needed and whether the plain
// network still caught it.
func (a *Ablation) String() string {
	switch {
	case a == nil:
		return "-"
	case a.Error != "":
		return "(" + a.Error + ")"
	}
	needed := "none alone"
	if len(a.Needed) > 0 {
		needed = strings.Join(a.Needed, ", ")
	}
	if a.Plain {
		return needed + "; plain network: caught"
	}
	return needed + "; plain network: passed"
}

// Ablate makes the ablation of every sim catch with a failing seed in
// results (a stored run of ms), building each mutant of a copy of
// opt.Root in turn.
func Ablate(ctx context.Context, ms []Mutant, results []Result, opt Options) error {
	if opt.Go == "" {
		opt.Go = "go"
	}
	byName := map[string]Mutant{}
	for _, m := range ms {
		byName[m.Name] = m
	}
	tmp, err := os.MkdirTemp("", "raftcheck-ablate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	tree := Tree{Dir: filepath.Join(tmp, "src")}
	if err := CopyModule(opt.Root, tree.Dir); err != nil {
		return err
	}
	for i, r := range results {
		m, ok := byName[r.Name]
		if !ok || r.FirstSeed == 0 || (r.Sim != SimCaught && r.Sim != SimNotLive) {
			continue
		}
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "ablation: %s, seed %d\n", r.Name, r.FirstSeed)
		}
		a, err := ablateOne(ctx, tree, tmp, m, r.FirstSeed, opt)
		if err != nil {
			return err
		}
		results[i].Ablation = &a
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "    %s\n", a.String())
		}
	}
	return nil
}

func ablateOne(ctx context.Context, tree Tree, tmp string, m Mutant, seed uint64, opt Options) (Ablation, error) {
	undo, err := tree.apply(m)
	if err != nil {
		return Ablation{}, err
	}
	defer undo.undo()
	bin, failure := buildRaftcheck(ctx, tree, tmp, opt)
	if failure != "" {
		return Ablation{Error: failure}, nil
	}
	a := ablate(ctx, bin, tmp, seed, opt)
	if err := undo.undo(); err != nil {
		return a, fmt.Errorf("mutant %s: restore %s: %w", m.Name, m.File, err)
	}
	return a, ctx.Err()
}
