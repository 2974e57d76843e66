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

	"github.com/raftcheck/raftcheck/node/raft"
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
//	    unsafe=commit-prior-term,vote-any-log,forget-vote]
//	campaign NODE
//	tick [NODE...] [n=1] [stabilize=false]    no NODE: every node
//	propose NODE DATA
//	read-index NODE CTX
//	stabilize                  deliver everything, oldest first, until quiet
//	deliver|drop|hold [from=NODE] [to=NODE] [type=MsgApp,...] [first-entry=I]
//	release [filters]          held messages go back in flight
//	partition NODE... / NODE... [/ ...]
//	heal
//	crash NODE [lose-tail=N]   lose-tail: the disk lost its last N entries
//	restart NODE
//	compact NODE               snapshot at the applied index
//	status [NODE...]           role, term, vote, leader, commit, applied, log terms
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

func (s *script) exec(cmd string, a *args, out *strings.Builder) error {
	if cmd == "add-nodes" {
		return s.addNodes(a)
	}
	e := s.e
	if e == nil {
		return fmt.Errorf("%s before add-nodes", cmd)
	}
	switch cmd {
	case "campaign":
		return s.eachNode(a, 1, func(id raft.NodeID) {
			if tn := e.nodes[id]; !tn.down {
				tn.rn.Campaign()
				e.process(id)
			}
		})
	case "tick":
		n, err := a.int("n", 1)
		if err != nil {
			return err
		}
		ids, err := s.nodeArgs(a.pos, 0)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			ids = e.ids
		}
		// stabilize=true delivers everything after each round of ticks:
		// time passing on a fast network.
		settle, err := a.bool("stabilize", false)
		if err != nil {
			return err
		}
		for range n {
			for _, id := range ids {
				e.tick(id)
			}
			if settle {
				if err := e.stabilize(); err != nil {
					return err
				}
			}
		}
	case "propose":
		if len(a.pos) != 2 {
			return fmt.Errorf("usage: propose NODE DATA")
		}
		return s.eachNode(&args{pos: a.pos[:1]}, 1, func(id raft.NodeID) { e.propose(id, a.pos[1]) })
	case "read-index":
		if len(a.pos) != 2 {
			return fmt.Errorf("usage: read-index NODE CTX")
		}
		return s.eachNode(&args{pos: a.pos[:1]}, 1, func(id raft.NodeID) { e.readIndex(id, a.pos[1]) })
	case "stabilize":
		return e.stabilize()
	case "deliver", "drop", "hold", "release":
		return s.moveMessages(cmd, a)
	case "partition":
		var groups [][]raft.NodeID
		var g []raft.NodeID
		for _, p := range append(a.pos, "/") {
			if p != "/" {
				if e.nodes[raft.NodeID(p)] == nil {
					return fmt.Errorf("no node %s", p)
				}
				g = append(g, raft.NodeID(p))
				continue
			}
			if len(g) > 0 {
				groups = append(groups, g)
			}
			g = nil
		}
		if len(groups) < 2 {
			return fmt.Errorf("usage: partition NODES / NODES [/ NODES...]")
		}
		e.heal()
		e.partition(groups...)
	case "heal":
		e.heal()
	case "crash":
		lose, err := a.int("lose-tail", 0)
		if err != nil {
			return err
		}
		return s.eachNode(a, 1, func(id raft.NodeID) { e.crash(id, lose) })
	case "restart":
		return s.eachNode(a, 1, func(id raft.NodeID) {
			if e.nodes[id].down {
				e.start(id)
			}
		})
	case "compact":
		return s.eachNode(a, 1, e.compact)
	case "status":
		ids, err := s.nodeArgs(a.pos, 0)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			ids = e.ids
		}
		for _, id := range ids {
			fmt.Fprintln(out, e.fmtNode(id))
		}
	case "msgs":
		for _, m := range e.net {
			fmt.Fprintln(out, fmtMsg(m))
		}
		for _, m := range e.held {
			fmt.Fprintf(out, "%s (held)\n", fmtMsg(m))
		}
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return nil
}

func (s *script) addNodes(a *args) error {
	if s.e != nil || len(a.pos) != 1 {
		return fmt.Errorf("usage: add-nodes N [options], once")
	}
	n, err := strconv.Atoi(a.pos[0])
	if err != nil || n < 1 {
		return fmt.Errorf("add-nodes: bad count %q", a.pos[0])
	}
	cfg := defaultConfig()
	for _, opt := range []struct {
		key string
		p   *int
	}{{"election", &cfg.electionTick}, {"heartbeat", &cfg.heartbeatTick},
		{"max-msg-size", &cfg.maxMsgSize}, {"max-inflight", &cfg.maxInflight}} {
		if *opt.p, err = a.int(opt.key, *opt.p); err != nil {
			return err
		}
	}
	if cfg.preVote, err = a.bool("prevote", cfg.preVote); err != nil {
		return err
	}
	if cfg.checkQuorum, err = a.bool("checkquorum", cfg.checkQuorum); err != nil {
		return err
	}
	for _, u := range strings.Split(a.str("unsafe", ""), ",") {
		switch u {
		case "":
		case "commit-prior-term":
			cfg.unsafe.CommitPriorTerm = true
		case "vote-any-log":
			cfg.unsafe.VoteAnyLog = true
		case "forget-vote":
			cfg.forgetVote = true
		default:
			return fmt.Errorf("unknown unsafe mode %q", u)
		}
	}
	seed, err := a.int("seed", 1)
	if err != nil {
		return err
	}
	s.e = newEnv(n, cfg, uint64(seed))
	return nil
}

// nodeArgs resolves node names; want > 0 demands exactly that many.
func (s *script) nodeArgs(pos []string, want int) ([]raft.NodeID, error) {
	if want > 0 && len(pos) != want {
		return nil, fmt.Errorf("want %d node(s), got %v", want, pos)
	}
	ids := make([]raft.NodeID, 0, len(pos))
	for _, p := range pos {
		if s.e.nodes[raft.NodeID(p)] == nil {
			return nil, fmt.Errorf("no node %s", p)
		}
		ids = append(ids, raft.NodeID(p))
	}
	return ids, nil
}

func (s *script) eachNode(a *args, want int, f func(raft.NodeID)) error {
	ids, err := s.nodeArgs(a.pos, want)
	if err != nil {
		return err
	}
	for _, id := range ids {
		f(id)
	}
	return nil
}

// msgFilter selects messages by sender, recipient, type and, for
// appends, the index of the first entry carried.
type msgFilter struct {
	from, to raft.NodeID
	types    []string
	first    int
}

func parseFilter(a *args) (msgFilter, error) {
	f := msgFilter{from: raft.NodeID(a.str("from", "")), to: raft.NodeID(a.str("to", ""))}
	if t := a.str("type", ""); t != "" {
		f.types = strings.Split(t, ",")
	}
	var err error
	f.first, err = a.int("first-entry", 0)
	return f, err
}

func (f msgFilter) match(m raft.Message) bool {
	if (f.from != "" && m.From != f.from) || (f.to != "" && m.To != f.to) {
		return false
	}
	if len(f.types) > 0 && !slices.Contains(f.types, m.Type.String()) {
		return false
	}
	return f.first == 0 || (len(m.Entries) > 0 && m.Entries[0].Index == uint64(f.first))
}

// moveMessages delivers, drops, holds or releases the matching messages
// that are in flight (held, for release) now; messages sent meanwhile
// wait for the next command.
func (s *script) moveMessages(cmd string, a *args) error {
	e := s.e
	f, err := parseFilter(a)
	if err != nil {
		return err
	}
	if len(a.pos) > 0 {
		return fmt.Errorf("%s takes only from=, to=, type=, first-entry=", cmd)
	}
	src := &e.net
	if cmd == "release" {
		src = &e.held
	}
	var picked, kept []raft.Message
	for _, m := range *src {
		if f.match(m) {
			picked = append(picked, m)
		} else {
			kept = append(kept, m)
		}
	}
	*src = kept
	for _, m := range picked {
		switch cmd {
		case "deliver":
			e.deliver(m)
		case "drop":
			e.logf("%s (dropped)", fmtMsg(m))
		case "hold":
			e.held = append(e.held, m)
		case "release":
			e.net = append(e.net, m)
		}
	}
	return nil
}
