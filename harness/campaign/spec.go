// Package campaign reads campaign specs (YAML lists of raftcheck tests),
// plans their runs, and writes what a campaign leaves behind: summary.json,
// index.html and a JUnit XML report for CI.
//
// A spec:
//
//	name: nightly                 # optional; default: the file's base name
//	defaults:                     # optional; every run inherits these
//	  backend: sim
//	  time-limit: 20s
//	runs:
//	  - name: sim-sweep           # optional; default: the test's name
//	    seed: 1000                # optional; default: from the campaign seed
//	    repeat: 200               # seeds 1000..1199
//	  - name: stale-reads-caught
//	    unsafe: stale-reads
//	    seed: 1
//	    expect: invalid           # pass when the checker catches the bug
//
// A run's keys are the flag names of `raftcheck test` (backend, nodes,
// workload, nemesis, time-limit, ...), plus name, repeat and expect. The
// package checks the spec's shape; turning the flag values into a test
// configuration is the caller's (see Resolver), so that a spec and the
// command line give the same defaults and the same error messages.
package campaign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/raftcheck/raftcheck/checker"
)

// MaxRepeat bounds repeat, so a typo does not start a year of runs.
const MaxRepeat = 100000

// Spec is a parsed campaign file.
type Spec struct {
	File    string // as given to Parse, for messages
	Name    string
	Entries []Entry
	// SHA256 is the hex digest of the spec file's bytes: shards of one
	// campaign must have read the same spec (Merge checks).
	SHA256 string
	// Seed is the campaign seed the entries without a seed draw theirs
	// from (EntrySeed); set by Load.
	Seed uint64
}

// Entry is one item of runs:, with the defaults folded in.
type Entry struct {
	Name string // as the spec gives it; "" when it gives none
	Line int    // the line of the item
	// Settings are the flags it sets: the inherited defaults first, then
	// its own, each in file order. A later setting of a key overrides an
	// earlier one, as on a command line.
	Settings []Setting
	Repeat   int             // at least 1
	Expect   checker.Verdict // checker.Valid or checker.Invalid
	// Within, for expect: invalid in the simulator, makes the run a
	// search: it passes when one of Within seeds from its seed on is
	// invalid. A canary that names its bug without pinning a seed does
	// not drift when node code changes the seeds' schedules.
	Within int
	// Shrink asks for a failing simulated run to be shrunk (raftcheck
	// shrink) and the smaller run linked from the summary.
	Shrink bool
}

// Setting is one flag of `raftcheck test` as the spec sets it.
type Setting struct {
	Key   string // the flag's name, without dashes
	Value string // as the command line would spell it; a YAML list is joined with commas
	Line  int
	// Inherited marks a setting that comes from the defaults block.
	Inherited bool
}

// Label names the entry in messages: its name, or its position.
func (e Entry) Label(index int) string {
	if e.Name != "" {
		return fmt.Sprintf("run %q", e.Name)
	}
	return fmt.Sprintf("run #%d", index+1)
}

// LineError is an error at a line of a spec.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// AtLine places err at a line of the spec (a Resolver uses it to point
// at the setting whose value is wrong).
func AtLine(line int, err error) error { return &LineError{Line: line, Err: err} }

// Keys an entry has besides the flags.
const (
	keyName   = "name"
	keyRepeat = "repeat"
	keyExpect = "expect"
	keyWithin = "within"
	keyShrink = "shrink"
)

// Parse reads a spec. flags are the keys a run may set: the flag names of
// `raftcheck test`. An unknown key, a value of the wrong shape, a bad
// repeat or expect is an error naming its line.
func Parse(file string, data []byte, flags []string) (*Spec, error) {
	p := parser{file: file, flags: flags}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the spec is empty; it needs a runs: list", file)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: the spec is empty; it needs a runs: list", file)
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root, "a campaign spec is a mapping with name, defaults and runs")
	}
	sum := sha256.Sum256(data)
	spec := &Spec{File: file, Name: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)), SHA256: hex.EncodeToString(sum[:])}
	var defaults []Setting
	defRepeat, defExpect := 1, checker.Valid
	var runs *yaml.Node
	err := p.mapping(root, func(key string, k, v *yaml.Node) error {
		switch key {
		case keyName:
			s, err := p.scalar(key, v)
			if err != nil {
				return err
			}
			if s == "" {
				return p.errorf(v, "name: want a non-empty name")
			}
			spec.Name = s
		case "defaults":
			if v.Kind != yaml.MappingNode {
				return p.errorf(v, "defaults: want a mapping of flag names to values")
			}
			return p.mapping(v, func(key string, k, v *yaml.Node) error {
				switch key {
				case keyName:
					return p.errorf(k, "name cannot be a default: each run has its own")
				case keyRepeat:
					n, err := p.repeat(v)
					defRepeat = n
					return err
				case keyExpect:
					e, err := p.expect(v)
					defExpect = e
					return err
				}
				s, err := p.setting(key, k, v, "the defaults")
				s.Inherited = true
				defaults = append(defaults, s)
				return err
			})
		case "runs":
			runs = v
		default:
			return p.errorf(k, "unknown key %q; a campaign spec has name, defaults and runs", key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if runs == nil {
		return nil, p.errorf(root, "no runs: the spec needs a runs: list")
	}
	if runs.Kind != yaml.SequenceNode || len(runs.Content) == 0 {
		return nil, p.errorf(runs, "runs: want a list of runs, each a mapping of flag names to values")
	}
	names := map[string]int{}
	for _, item := range runs.Content {
		item = deref(item)
		if item.Kind != yaml.MappingNode {
			return nil, p.errorf(item, "a run is a mapping of flag names to values (e.g. backend: sim)")
		}
		e := Entry{Line: item.Line, Repeat: defRepeat, Expect: defExpect, Settings: slices.Clone(defaults)}
		err := p.mapping(item, func(key string, k, v *yaml.Node) error {
			switch key {
			case keyName:
				s, err := p.scalar(key, v)
				if err != nil {
					return err
				}
				if s == "" {
					return p.errorf(v, "name: want a non-empty name")
				}
				if first, ok := names[s]; ok {
					return p.errorf(v, "name %q is taken by the run on line %d", s, first)
				}
				names[s] = v.Line
				e.Name = s
				return nil
			case keyRepeat:
				n, err := p.repeat(v)
				e.Repeat = n
				return err
			case keyExpect:
				x, err := p.expect(v)
				e.Expect = x
				return err
			case keyWithin:
				n, err := p.count(keyWithin, v)
				e.Within = n
				return err
			case keyShrink:
				b, err := p.boolean(keyShrink, v)
				e.Shrink = b
				return err
			}
			s, err := p.setting(key, k, v, "a run")
			e.Settings = append(e.Settings, s)
			return err
		})
		if err != nil {
			return nil, err
		}
		if e.Within > 0 && (e.Expect != checker.Invalid || e.Repeat != 1) {
			return nil, p.errorf(item, "within: a search for a failing seed; it needs expect: invalid and no repeat")
		}
		spec.Entries = append(spec.Entries, e)
	}
	return spec, nil
}

type parser struct {
	file  string
	flags []string
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) error {
	return &LineError{File: p.file, Line: n.Line, Err: fmt.Errorf(format, args...)}
}

// mapping calls f for each key of m in order, refusing repeated keys.
func (p *parser) mapping(m *yaml.Node, f func(key string, k, v *yaml.Node) error) error {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k, "a key must be a plain name")
		}
		if first, ok := seen[k.Value]; ok {
			return p.errorf(k, "key %q given twice (first on line %d)", k.Value, first)
		}
		seen[k.Value] = k.Line
		if err := f(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

// setting reads one flag; where says where it is (for messages).
func (p *parser) setting(key string, k, v *yaml.Node, where string) (Setting, error) {
	s := Setting{Key: key, Line: k.Line}
	if !slices.Contains(p.flags, key) {
		return s, p.errorf(k, "%s", p.unknown(key, where))
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag != "!!null" {
			s.Value = v.Value
		}
	case yaml.SequenceNode:
		var parts []string
		for _, c := range v.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				return s, p.errorf(c, "%s: a list may hold only plain values", key)
			}
			parts = append(parts, c.Value)
		}
		s.Value = strings.Join(parts, ",")
	default:
		return s, p.errorf(v, "%s: want a value (or a list, for nemesis)", key)
	}
	return s, nil
}

// unknown words the error for a key that is no flag.
func (p *parser) unknown(key, where string) string {
	msg := fmt.Sprintf("unknown key %q in %s", key, where)
	if alt := strings.ToLower(strings.NewReplacer("_", "-", " ", "-").Replace(strings.TrimLeft(key, "-"))); alt != key &&
		(slices.Contains(p.flags, alt) || alt == keyName || alt == keyRepeat || alt == keyExpect) {
		return msg + fmt.Sprintf(" (did you mean %q?)", alt)
	}
	return msg + "; a run takes name, repeat, expect and the flags of raftcheck test: " + strings.Join(p.flags, ", ")
}

func (p *parser) scalar(key string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", p.errorf(v, "%s: want a single value", key)
	}
	if v.Tag == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

func (p *parser) repeat(v *yaml.Node) (int, error) { return p.count(keyRepeat, v) }

// boolean reads shrink: true or false.
func (p *parser) boolean(key string, v *yaml.Node) (bool, error) {
	s, err := p.scalar(key, v)
	if err != nil {
		return false, err
	}
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, p.errorf(v, "%s %q: want true or false", key, s)
}

// count reads repeat or within: a number of seeds.
func (p *parser) count(key string, v *yaml.Node) (int, error) {
	s, err := p.scalar(key, v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxRepeat {
		return 0, p.errorf(v, "%s %q: want how many seeds to run, 1 to %d", key, s, MaxRepeat)
	}
	return n, nil
}

func (p *parser) expect(v *yaml.Node) (checker.Verdict, error) {
	s, err := p.scalar(keyExpect, v)
	if err != nil {
		return 0, err
	}
	switch s {
	case "valid":
		return checker.Valid, nil
	case "invalid":
		return checker.Invalid, nil
	}
	return 0, p.errorf(v, "expect %q: want valid (the default) or invalid (a run with a bug the checker must catch)", s)
}

// deref follows an alias (*name) to its anchor.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
