package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
)

var _ nemesis.ChangeProposer = (*Simulator)(nil)

// ProposeChange proposes a change at the leader and returns at once: nil
// if the leader took it into its log, else its refusal. When the change
// commits, a removed slot's process stops, and a promoted slot is a
// member again; an added learner's slot boots first, on an empty disk
// under its next member ID.
func (s *Simulator) ProposeChange(_ context.Context, change, slot string) error {
	n, err := s.lookup(slot)
	if err != nil {
		return err
	}
	l := s.leaderNode()
	if l == nil {
		return errors.New("no leader")
	}
	var cc raft.ConfChange
	switch change {
	case "remove":
		cc = raft.ConfChange{Type: raft.ConfRemove, Node: n.id}
	case "promote":
		cc = raft.ConfChange{Type: raft.ConfPromote, Node: n.id}
	case "add-learner":
		if !n.removed {
			return fmt.Errorf("%s is a member (%s)", slot, n.id)
		}
		if n.up {
			s.network().resume(n.slot, false)
			n.crash()
		}
		n.incarnation++
		n.id = raft.NodeID(nemesis.MemberID(slot, n.incarnation))
		n.disk = &memstore.Store{}
		if err := n.boot(); err != nil {
			return err
		}
		n.process()
		s.network().restarted(n.slot)
		cc = raft.ConfChange{Type: raft.ConfAddLearner, Node: n.id, Context: []byte(slot)}
	default:
		return fmt.Errorf("propose %q: want remove, add-learner or promote", change)
	}
	var refused error
	sync := true
	member := n.id
	l.whenRunning(func() {
		l.rep.ChangeMembership(cc, func(r replica.MembershipResponse) {
			if sync {
				refused = r.Err
			}
			if r.Err != nil || n.id != member {
				return
			}
			switch cc.Type {
			case raft.ConfRemove:
				// Out of the clients' way; its process runs on, as a
				// removed server that never learns of its removal does.
				n.removed = true
			case raft.ConfPromote:
				n.removed = false
			}
		})
		l.process()
	})
	sync = false
	if refused != nil {
		return fmt.Errorf("%s %s at leader %s: %w", cc.Type, cc.Node, l.name, refused)
	}
	if l.rep == nil {
		return fmt.Errorf("%s %s: leader %s stopped", cc.Type, cc.Node, l.name)
	}
	st := l.rep.Status()
	s.changes = append(s.changes, memberChange{bit: true,
		detail: fmt.Sprintf("%s %s in the log of leader %s (term %d, last index %d); configurations: %s", cc.Type, cc.Node, l.name, st.Term, st.LastIndex, s.views())})
	return nil
}

// confStrike drives the cluster, by watching who leads, through the
// situation of the 2015 bug in single-server membership changes
// (Ongaro, raft-dev), which a leader's no-op must commit before its first
// change to prevent:
//
//  1. remove a slot x and add it back as a learner x' (new ID, empty
//     disk), and wait for it to catch up: four voters and a learner;
//  2. at leader L1, propose promoting x' (five voters, majority three)
//     and at once cut L1 and x' off from the other three: the promotion
//     is in L1's and x's logs only;
//  3. the instant the other three elect L2, propose at L2 removing L1
//     (three voters, majority two) and cut off c, one of the two others,
//     before L2's entries reach it;
//  4. let L2 and b commit for a while, then put c with L1 and x': in
//     L1's configuration they are three of five, and c lacks L2's entries.
//
// A correct leader refuses the change of step 3 until its no-op commits,
// which L2 and b alone cannot do in a configuration of four; a leader
// that takes it commits with two of three, and L1 then wins with three of
// five and overwrites what L2 committed.
type confStrike struct {
	s        *Simulator
	rng      *rand.Rand
	step     int
	x        string // the slot removed and added back
	l1, l2   string
	b, c     string
	deadline int64
	rounds   int
}

func newConfStrike(s *Simulator) *confStrike {
	return &confStrike{s: s, rng: harness.Stream(s.tc.Seed, "conf-strike")}
}

func (k *confStrike) start() { k.s.clock.after(int64(time.Second), k.tick) }

func (k *confStrike) act(a nemesis.Action) { k.s.strike(a) }

func (k *confStrike) tick() {
	s := k.s
	now := s.clock.now
	next := int64(time.Millisecond)
	if s.ended && k.step == 0 {
		return
	}
	abandon := func() {
		k.act(nemesis.Action{F: "heal", Name: "conf-strike-abandon"})
		k.step = 0
		next = int64(time.Second)
	}
	switch k.step {
	case 0: // remove a follower
		l := s.leader()
		if l == "" || len(s.Removed()) > 0 {
			break
		}
		others := slices.DeleteFunc(s.Nodes(), func(n string) bool { return n == l })
		k.x = others[k.rng.IntN(len(others))]
		k.act(nemesis.Action{F: "propose", Name: "remove", Nodes: []string{k.x}})
		k.step, k.deadline = 1, now+int64(5*time.Second)
		k.rounds++
	case 1: // wait for the removal, then add it back as a learner
		if n, _ := s.lookup(k.x); n.removed && s.leader() != "" {
			k.act(nemesis.Action{F: "propose", Name: "add-learner", Nodes: []string{k.x}})
			k.step = 2
		}
	case 2: // wait for the learner to catch up, then promote and cut
		n, _ := s.lookup(k.x)
		l := s.leaderNode()
		if l == nil || !n.up || n.rep.Status().Commit < l.rep.Status().Commit || !l.rep.RaftView().Status().Conf.IsLearner(n.id) {
			break
		}
		k.l1 = l.name
		k.act(nemesis.Action{F: "propose", Name: "promote", Nodes: []string{k.x}})
		rest := slices.DeleteFunc(s.Nodes(), func(n string) bool { return n == k.l1 || n == k.x })
		s.clock.after(0, func() {
			k.act(nemesis.Action{F: "partition", Name: "conf-strike-cut-promoter",
				Grudge: nemesis.Groups([][]string{{k.l1, k.x}, rest})})
		})
		k.step, k.deadline = 3, now+int64(5*time.Second)
	case 3: // waiting in elected for L2
	case 4: // L2 commits with b; then c joins L1 and x'
		if now < k.deadline {
			break
		}
		k.act(nemesis.Action{F: "partition", Name: "conf-strike-rejoin",
			Grudge: nemesis.Groups([][]string{{k.l2, k.b}, {k.l1, k.x, k.c}})})
		k.step, k.deadline = 5, now+int64(3*time.Second)
	case 5: // let whoever wins there commit, then heal and rest
		if now < k.deadline {
			break
		}
		k.act(nemesis.Action{F: "heal", Name: "conf-strike-heal"})
		k.step, next = 0, int64(2*time.Second)
	}
	if k.step > 0 && k.step != 4 && k.step != 5 && now > k.deadline {
		abandon()
	}
	s.clock.after(next, k.tick)
}

// elected is called when a node becomes leader: in step 3, L2 on the
// majority side proposes removing L1 at once, and c is cut off from it
// before its entries arrive.
func (k *confStrike) elected(node string) {
	if k.step != 3 || node == k.l1 || node == k.x {
		return
	}
	k.l2 = node
	rest := slices.DeleteFunc(k.s.Nodes(), func(n string) bool { return n == k.l1 || n == k.x || n == node })
	k.rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	k.b, k.c = rest[0], rest[1]
	k.s.clock.after(0, func() {
		k.act(nemesis.Action{F: "propose", Name: "remove", Nodes: []string{k.l1}})
		k.act(nemesis.Action{F: "partition", Name: "conf-strike-cut-follower",
			Grudge: nemesis.Groups([][]string{{k.l2, k.b}, {k.c}, {k.l1, k.x}})})
	})
	hold := 2*int64(k.s.tc.ElectionTimeout) + k.rng.Int64N(int64(k.s.tc.ElectionTimeout))
	k.step, k.deadline = 4, k.s.clock.now+hold
}
