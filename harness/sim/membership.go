package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
)

// Membership changes in the simulator (nemesis.MembershipFaults), made
// through the replica API as raftnode's HTTP handlers make them: the
// change goes to the leader's replica, and the call returns when its done
// fires. A removed slot's process stops; a slot added back boots on a new
// empty disk under the slot's next member ID (n3b, n3c, ...) as a joining
// node, is added as a learner, and is promoted once it has caught up.
//
// Each call parks the calling process (virtual time passes, as for a
// client's request); the simulator's own strikes run it in a process of
// their own.

var _ nemesis.MembershipFaults = (*Simulator)(nil)

// memberChange is what one change did, for Evidence.
type memberChange struct {
	bit    bool
	detail string
}

// memberOpTimeout bounds one change, retries included.
func (s *Simulator) memberOpTimeout() time.Duration {
	return max(20*time.Duration(s.tc.ElectionTimeout), 5*time.Second)
}

// Removed lists the slots whose member is out of the configuration.
func (s *Simulator) Removed() []string {
	var out []string
	for _, n := range s.nodes {
		if n.removed {
			out = append(out, n.name)
		}
	}
	return out
}

// leaderNode is the node the engine's leader rule names, nil if none.
func (s *Simulator) leaderNode() *simNode {
	l := s.leader()
	if l == "" {
		return nil
	}
	n, _ := s.lookup(l)
	return n
}

// call runs op on node n as a request over the simulated network (a
// latency there and back) and parks the calling process until op's
// finish is called or timeout passes.
func (s *Simulator) call(n *simNode, timeout time.Duration, op func(finish func(error))) error {
	p := s.rt.self()
	var res error
	answered := false
	answer := func(err error) {
		if !answered {
			answered, res = true, err
			s.rt.wake(p)
		}
	}
	s.clock.after(s.net.latency(), func() {
		if !n.up {
			s.clock.after(s.net.latency(), func() { answer(fmt.Errorf("%s is down", n.name)) })
			return
		}
		n.whenRunning(func() {
			op(func(err error) { s.clock.after(s.net.latency(), func() { answer(err) }) })
			n.process()
		})
	})
	s.clock.after(int64(timeout), func() { answer(errors.New("timed out")) })
	s.rt.park(p)
	return res
}

// change proposes cc at the leader, retrying while there is no leader or
// it cannot take the change yet, until done reports the change made (an
// attempt that timed out may have committed it) or the time is up.
func (s *Simulator) change(ctx context.Context, cc raft.ConfChange, done func(raft.ConfState) bool) error {
	deadline := s.rt.Now() + s.memberOpTimeout()
	var last error
	for {
		if l := s.leaderNode(); l != nil {
			if done(l.rep.RaftView().Status().Conf) {
				return nil
			}
			err := s.call(l, 2*time.Duration(s.tc.ClientTimeout), func(finish func(error)) {
				l.rep.ChangeMembership(cc, func(r replica.MembershipResponse) { finish(r.Err) })
			})
			if err == nil {
				return nil
			}
			if !retriable(err) {
				return err
			}
			last = err
		} else {
			last = errors.New("no leader")
		}
		if s.rt.Now() >= deadline {
			return fmt.Errorf("%s %s: not done within %v: %w", cc.Type, cc.Node, s.memberOpTimeout(), last)
		}
		if err := s.rt.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func retriable(err error) bool {
	for _, e := range []error{replica.ErrChangeInProgress, replica.ErrNotLeader, replica.ErrOutcomeUnknown, replica.ErrAborted} {
		if errors.Is(err, e) {
			return true
		}
	}
	return err.Error() == "timed out" || strings.HasSuffix(err.Error(), "is down")
}

// views describes every slot's configuration as its node reports it.
func (s *Simulator) views() string {
	var parts []string
	for _, n := range s.nodes {
		switch {
		case n.removed && !n.up:
			parts = append(parts, n.name+": removed")
		case !n.up || n.paused:
			parts = append(parts, fmt.Sprintf("%s (%s): no answer", n.name, n.id))
		default:
			cs := n.rep.RaftView().Status().Conf
			parts = append(parts, fmt.Sprintf("%s (%s): %s", n.name, n.id, describeConf(cs)))
		}
	}
	return strings.Join(parts, "; ")
}

func describeConf(cs raft.ConfState) string {
	s := "voters " + joinIDs(cs.Voters)
	if len(cs.Learners) > 0 {
		s += " learners " + joinIDs(cs.Learners)
	}
	return s
}

func joinIDs(ids []raft.NodeID) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return strings.Join(out, ",")
}

// agree waits, up to two election timeouts, for every running node's
// configuration to satisfy ok (a change committed reaches the slowest
// follower a heartbeat or so later), and counts those that do, and those
// running.
func (s *Simulator) agree(ctx context.Context, ok func(raft.ConfState) bool) (yes, running int) {
	began := s.rt.Now()
	for {
		yes, running = s.count(ok)
		if yes == running || s.rt.Now()-began >= 2*time.Duration(s.tc.ElectionTimeout) || s.rt.Sleep(ctx, 5*time.Millisecond) != nil {
			return yes, running
		}
	}
}

func (s *Simulator) count(ok func(raft.ConfState) bool) (yes, running int) {
	for _, n := range s.nodes {
		if n.up && !n.paused && !n.removed {
			running++
			if ok(n.rep.RaftView().Status().Conf) {
				yes++
			}
		}
	}
	return yes, running
}

// RemoveMember removes slot's member and stops its process.
func (s *Simulator) RemoveMember(ctx context.Context, slot string) error {
	n, err := s.lookup(slot)
	if err != nil {
		return err
	}
	if n.removed {
		return fmt.Errorf("%s is already removed", slot)
	}
	if s.memberBusy {
		return errors.New("another membership change is under way")
	}
	s.memberBusy = true
	defer func() { s.memberBusy = false }()
	before, member := s.views(), n.id
	err = s.change(ctx, raft.ConfChange{Type: raft.ConfRemove, Node: member},
		func(cs raft.ConfState) bool { return !cs.IsMember(member) })
	if err != nil {
		return err
	}
	n.removed = true
	if n.up {
		s.network().resume(n.slot, false)
		n.crash()
	}
	yes, running := s.agree(ctx, func(cs raft.ConfState) bool { return !cs.IsMember(member) })
	s.changes = append(s.changes, memberChange{bit: yes > running/2,
		detail: fmt.Sprintf("remove %s (member %s): %d of %d running members no longer list it; before: %s; after: %s", slot, member, yes, running, before, s.views())})
	return nil
}

// AddMember brings a removed slot back as a new member.
func (s *Simulator) AddMember(ctx context.Context, slot string) error {
	n, err := s.lookup(slot)
	if err != nil {
		return err
	}
	if !n.removed {
		return fmt.Errorf("%s is a member (%s): remove it first", slot, n.id)
	}
	if s.memberBusy {
		return errors.New("another membership change is under way")
	}
	s.memberBusy = true
	defer func() { s.memberBusy = false }()
	before := s.views()
	// An earlier add of this slot that failed half way may have left
	// its member in the configuration: out with it first.
	if l := s.leaderNode(); l != nil && l.rep.RaftView().Status().Conf.IsMember(n.id) {
		stale := n.id
		if err := s.change(ctx, raft.ConfChange{Type: raft.ConfRemove, Node: stale},
			func(cs raft.ConfState) bool { return !cs.IsMember(stale) }); err != nil {
			return fmt.Errorf("remove the stale member %s: %w", stale, err)
		}
	}
	if n.up {
		s.network().resume(n.slot, false)
		n.crash()
	}
	// The ID is spent from the first attempt on: even a failed add may
	// have reached the log.
	n.incarnation++
	member := raft.NodeID(nemesis.MemberID(slot, n.incarnation))
	n.id = member
	err = s.change(ctx, raft.ConfChange{Type: raft.ConfAddLearner, Node: member, Context: []byte(slot)},
		func(cs raft.ConfState) bool { return cs.IsMember(member) })
	if err != nil {
		return err
	}
	var target uint64
	if l := s.leaderNode(); l != nil {
		target = l.rep.Status().Commit
	}
	n.disk = &memstore.Store{}
	if err := n.boot(); err != nil {
		return err
	}
	n.process()
	s.network().restarted(n.slot)
	lag := s.catchUp(ctx, n, target)
	err = s.change(ctx, raft.ConfChange{Type: raft.ConfPromote, Node: member},
		func(cs raft.ConfState) bool { return cs.IsVoter(member) })
	if err != nil {
		return err
	}
	n.removed = false
	yes, running := s.agree(ctx, func(cs raft.ConfState) bool { return cs.IsVoter(member) })
	s.changes = append(s.changes, memberChange{bit: yes > running/2,
		detail: fmt.Sprintf("add %s as member %s (learner%s, then promoted): %d of %d running members list it as a voter; before: %s; after: %s", slot, member, lag, yes, running, before, s.views())})
	return nil
}

// catchUp waits for the new member to commit up to target before it is
// promoted: promoted earlier, a lagging voter only slows the quorum
// (thesis §4.2.1).
func (s *Simulator) catchUp(ctx context.Context, n *simNode, target uint64) string {
	began := s.rt.Now()
	var last uint64
	for s.rt.Now()-began < s.memberOpTimeout() {
		if n.up && !n.paused {
			last = n.rep.Status().Commit
			if last >= target {
				return fmt.Sprintf(", caught up to commit %d in %v", last, s.rt.Now()-began)
			}
		}
		if s.rt.Sleep(ctx, 10*time.Millisecond) != nil {
			break
		}
	}
	return fmt.Sprintf(", NOT caught up (commit %d of %d) within %v", last, target, s.memberOpTimeout())
}

// TransferLeader asks the leader to hand over to slot's member and waits,
// up to ten election timeouts, for it to lead.
func (s *Simulator) TransferLeader(ctx context.Context, slot string) error {
	n, err := s.lookup(slot)
	if err != nil {
		return err
	}
	if n.removed {
		return fmt.Errorf("%s is removed", slot)
	}
	if s.memberBusy {
		return errors.New("another membership change is under way")
	}
	s.memberBusy = true
	defer func() { s.memberBusy = false }()
	before := s.leader()
	l := s.leaderNode()
	if l == nil {
		return errors.New("no leader to transfer from")
	}
	member := n.id
	err = s.call(l, 2*time.Duration(s.tc.ClientTimeout), func(finish func(error)) {
		l.rep.TransferLeadership(member, finish)
	})
	wait := 10 * time.Duration(s.tc.ElectionTimeout)
	began := s.rt.Now()
	for s.rt.Now()-began < wait && s.leader() != slot {
		if s.rt.Sleep(ctx, 10*time.Millisecond) != nil {
			break
		}
	}
	after := s.leader()
	s.changes = append(s.changes, memberChange{bit: after == slot,
		detail: fmt.Sprintf("transfer-leader to %s (member %s): leader before %s, after %s (%v later)", slot, member, orDash(before), orDash(after), s.rt.Now()-began)})
	if err != nil {
		return fmt.Errorf("transfer from %s: %w", l.name, err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// membershipEvidence reports the changes made since the last evidence.
func (s *Simulator) membershipEvidence(a nemesis.Action) (bool, string) {
	changes := s.changes
	s.changes = nil
	if len(changes) == 0 {
		return false, a.F + " changed nothing"
	}
	bit := true
	var parts []string
	for _, ch := range changes {
		bit = bit && ch.bit
		parts = append(parts, ch.detail)
	}
	return bit, strings.Join(parts, " | ")
}

// peersFor is the bootstrap configuration of a node's boot: the original
// slots for an original member; none for a later member, which joins.
func (n *simNode) peersFor() ([]raft.NodeID, bool) {
	if n.incarnation == 0 {
		return n.s.ids, false
	}
	return nil, true
}
