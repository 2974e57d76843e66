// Package mutants runs the mutation-testing corpus: small, plausible bugs
// in the node (node/raft, node/replica, node/kv, node/storage), each named
// after the rule of the Raft paper or thesis it breaks, to measure whether
// the simulator and the unit tests notice them.
//
// Mechanism, and why: a mutant is a YAML file in mutants/ naming the rule,
// the file, an exact snippet (old) that must occur exactly once in it and
// its replacement (new). The runner copies the module to a temporary
// directory, applies one replacement there, builds and runs; the working
// tree is never touched, so no mutant code can reach a production binary
// (build tags would have kept the bugs inside node/, compiled out but
// present, and every mutated function duplicated). An exact snippet
// survives unrelated edits to the file and fails loudly when the code it
// mutates changes: TestCorpusApplies (part of make test) checks that
// every mutant still applies exactly once and that the mutated package
// compiles, so whoever changes node code keeps the corpus in step.
//
// The copy is made once and each mutant restores the file it changed, so
// every build shares one path and, with -trimpath, the build and test
// caches: only the mutated package and its dependents are recompiled.
package mutants

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Mutant is one deliberate bug.
type Mutant struct {
	// Name is the file's base name without .yaml: what the bug does.
	Name string `yaml:"name"`
	// Rule is the rule of the paper (Figure 2 and sections) or of Ongaro's
	// thesis the mutant breaks.
	Rule string `yaml:"rule"`
	// File is the mutated file, relative to the module root.
	File string `yaml:"file"`
	// Old must occur exactly once in File; New replaces it.
	Old string `yaml:"old"`
	New string `yaml:"new"`
	// Note explains, with evidence, why the simulator cannot catch the
	// mutant (empty when it is expected to).
	Note string `yaml:"note,omitempty"`
}

// mutableDirs are the packages a mutant may change: the node's logic.
var mutableDirs = []string{"node/raft/", "node/replica/", "node/kv/", "node/storage/"}

// Load reads every *.yaml in dir, sorted by name, and checks each one.
func Load(dir string) ([]Mutant, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("mutants: no *.yaml in %s", dir)
	}
	slices.Sort(paths)
	var out []Mutant
	for _, p := range paths {
		m, err := loadOne(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func loadOne(path string) (Mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Mutant{}, fmt.Errorf("mutants: %w", err)
	}
	var m Mutant
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return Mutant{}, fmt.Errorf("mutants: %s: %w", path, err)
	}
	if err := m.check(strings.TrimSuffix(filepath.Base(path), ".yaml")); err != nil {
		return Mutant{}, fmt.Errorf("mutants: %s: %w", path, err)
	}
	return m, nil
}

func (m Mutant) check(base string) error {
	switch {
	case m.Name != base:
		return fmt.Errorf("name %q differs from the file name %q", m.Name, base)
	case m.Rule == "":
		return errors.New("rule is empty: name the rule the mutant breaks")
	case m.Old == "":
		return errors.New("old is empty")
	case m.Old == m.New:
		return errors.New("old and new are the same")
	case strings.HasSuffix(m.File, "_test.go") || !strings.HasSuffix(m.File, ".go"):
		return fmt.Errorf("file %q is not a Go source file", m.File)
	}
	if !slices.ContainsFunc(mutableDirs, func(d string) bool { return strings.HasPrefix(m.File, d) }) {
		return fmt.Errorf("file %q is outside %v", m.File, mutableDirs)
	}
	return nil
}

// Apply returns src with Old replaced by New; Old must occur exactly once.
func (m Mutant) Apply(src []byte) ([]byte, error) {
	s := string(src)
	switch n := strings.Count(s, m.Old); n {
	case 1:
		return []byte(strings.Replace(s, m.Old, m.New, 1)), nil
	case 0:
		return nil, fmt.Errorf("mutant %s: old snippet not found in %s (the code changed: update the mutant)", m.Name, m.File)
	default:
		return nil, fmt.Errorf("mutant %s: old snippet occurs %d times in %s: make it unique", m.Name, n, m.File)
	}
}

// Package is the import directory of the mutated file, as go build takes it.
func (m Mutant) Package() string { return "./" + filepath.ToSlash(filepath.Dir(m.File)) }
