package raft_test

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt with what the scripts print now")

// A script (testdata/*.txt) is a list of commands, each followed by a line
// "----" and the output it must print, up to a blank line:
//
//	# comment
//	command arg key=value
//	----
//	output
//
// Comments and blank lines between commands are kept on -rewrite
// (go test ./node/raft -run TestScripts -rewrite). Commands, run on one
// in-memory cluster (env) that is checked by node/raft/invariant after
// every step; any command takes quiet=true to print only violations:
//
//	add-nodes N [election=10 heartbeat=1 prevote=true checkquorum=true
//	    max-msg-size=64 max-inflight=4 seed=1
//	    unsafe=commit-prior-term,vote-any-log,forget-vote,config-before-noop]
//	campaign NODE
//	tick [NODE...] [n=1] [stabilize=false]    no NODE: every node
//	propose NODE DATA
//	read-index NODE CTX
//	stabilize                  deliver everything, oldest first, until quiet
//	add-node NEWID             start a node that joins with no configuration
//	add-learner|promote|remove NODE TARGET   propose a conf change on NODE
//	transfer NODE TARGET       leadership transfer from NODE to TARGET
//	deliver|drop|hold [from=NODE] [to=NODE] [type=MsgApp,...] [first-entry=I]
//	release [filters]          held messages go back in flight
//	partition NODE... / NODE... [/ ...]
//	heal
//	crash NODE [lose-tail=N]   lose-tail: the disk lost its last N entries
//	restart NODE
//	compact NODE               snapshot at the applied index
//	status [NODE...]           role, term, vote, leader, commit, applied, log
//	                           terms; the configuration when not the bootstrap one
//	msgs                       messages in flight and held
//
// Delivered messages, role changes, reads answered or dropped and
// violations are printed as they happen.
type scriptCmd struct {
	line   int      // where the command is, for messages
	before []string // comment and blank lines before it
	text   string
	want   []string
}

func parseScript(path string) ([]scriptCmd, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var cmds []scriptCmd
	var pending []string
	sc := bufio.NewScanner(f)
	n := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		l, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pending = append(pending, l)
			continue
		}
		c := scriptCmd{line: n, before: pending, text: l}
		pending = nil
		if sep, ok := next(); !ok || sep != "----" {
			return nil, nil, fmt.Errorf("%s:%d: want ---- after the command", path, n)
		}
		for {
			out, ok := next()
			if !ok || out == "" {
				break
			}
			c.want = append(c.want, out)
		}
		cmds = append(cmds, c)
	}
	return cmds, pending, sc.Err()
}

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			cmds, trailer, err := parseScript(path)
			if err != nil {
				t.Fatal(err)
			}
			s := &script{}
			var file strings.Builder
			for _, c := range cmds {
				got, err := s.run(c.text)
				if err != nil {
					t.Fatalf("%s:%d: %s: %v", path, c.line, c.text, err)
				}
				if !*rewrite && !slices.Equal(got, c.want) {
					t.Errorf("%s:%d: %s\n--- got\n%s\n--- want\n%s", path, c.line, c.text,
						strings.Join(got, "\n"), strings.Join(c.want, "\n"))
				}
				for _, l := range c.before {
					file.WriteString(l + "\n")
				}
				file.WriteString(c.text + "\n----\n" + strings.Join(got, "\n") + "\n\n")
			}
			if *rewrite {
				out := strings.TrimSuffix(file.String(), "\n")
				if len(trailer) > 0 {
					out += "\n" + strings.Join(trailer, "\n") + "\n"
				}
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// script runs commands against one env.
type script struct{ e *env }

// args holds a command's positional arguments and key=value options.
type args struct {
	pos  []string
	opts map[string]string
	used map[string]bool
}

func parseArgs(fields []string) *args {
	a := &args{opts: map[string]string{}, used: map[string]bool{}}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			a.opts[k] = v
		} else {
			a.pos = append(a.pos, f)
		}
	}
	return a
}

func (a *args) str(k, def string) string {
	a.used[k] = true
	if v, ok := a.opts[k]; ok {
		return v
	}
	return def
}

func (a *args) int(k string, def int) (int, error) {
	v := a.str(k, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("option %s: %w", k, err)
	}
	return n, nil
}

func (a *args) bool(k string, def bool) (bool, error) {
	v := a.str(k, "")
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("option %s: %w", k, err)
	}
	return b, nil
}

func (a *args) unused() error {
	for k := range a.opts {
		if !a.used[k] {
			return fmt.Errorf("unknown option %s", k)
		}
	}
	return nil
}

// run executes one command line and returns what it printed ("ok" when
// nothing).
func (s *script) run(line string) ([]string, error) {
	fields := strings.Fields(line)
	a := parseArgs(fields[1:])
	var out strings.Builder
	quiet, err := a.bool("quiet", false)
	if err != nil {
		return nil, err
	}
	var broken error
	if s.e != nil {
		s.e.out = &out
		if quiet {
			s.e.out = nil
		}
		broken = s.e.err
	}
	if err := s.exec(fields[0], a, &out); err != nil {
		return nil, err
	}
	if err := a.unused(); err != nil {
		return nil, err
	}
	if quiet && s.e != nil && broken == nil && s.e.err != nil {
		// A violation is shown even when the rest is not.
		fmt.Fprintf(&out, "VIOLATION: %v\n", s.e.err)
	}
	text := strings.TrimRight(out.String(), "\n")
	if text == "" {
		return []string{"ok"}, nil
	}
	return strings.Split(text, "\n"), nil
}
