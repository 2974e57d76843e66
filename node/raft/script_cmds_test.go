package raft_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/raftcheck/raftcheck/node/raft"
)

// exec runs one script command (see the list in script_test.go).
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
	case "add-node":
		if len(a.pos) != 1 || e.nodes[raft.NodeID(a.pos[0])] != nil {
			return fmt.Errorf("usage: add-node NEWID")
		}
		e.addNode(raft.NodeID(a.pos[0]))
	case "add-learner", "promote", "remove":
		if len(a.pos) != 2 {
			return fmt.Errorf("usage: %s NODE TARGET", cmd)
		}
		typ := map[string]raft.ConfChangeType{"add-learner": raft.ConfAddLearner, "promote": raft.ConfPromote,
			"remove": raft.ConfRemove}[cmd]
		return s.eachNode(&args{pos: a.pos[:1]}, 1, func(id raft.NodeID) {
			if err := e.confChange(id, raft.ConfChange{Type: typ, Node: raft.NodeID(a.pos[1])}); err != nil {
				e.logf("%s: %v", id, err)
			}
		})
	case "transfer":
		if len(a.pos) != 2 {
			return fmt.Errorf("usage: transfer NODE TARGET")
		}
		return s.eachNode(&args{pos: a.pos[:1]}, 1, func(id raft.NodeID) {
			if err := e.transfer(id, raft.NodeID(a.pos[1])); err != nil {
				e.logf("%s: %v", id, err)
			}
		})
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
		case "config-before-noop":
			cfg.unsafe.ConfigBeforeNoop = true
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
