package docker

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/raftcheck/raftcheck/nemesis"
)

// Membership changes (nemesis.MembershipFaults). A slot (n1..nN: a fixed
// IP, host port and network alias) hosts one member at a time. Removing
// it commits the removal through a member of the cluster, then stops the
// slot's container. Adding it back starts a new container in the slot,
// on a new empty volume, under the next member ID (n3b, n3c, ...: IDs are
// never reused) with the target's join flags: learner first, promoted
// once it has caught up. The old container stays, stopped, so its log is
// collected (as <member>.log) and its volume removed with the run.

var _ nemesis.MembershipFaults = (*Cluster)(nil)

// MemberAPI is how the harness changes a target's configuration, through
// the member whose client address is addr. Members are named by their
// member IDs; peer is the member's slot (its IP).
type MemberAPI struct {
	// List is the configuration as the member at addr knows it.
	List func(ctx context.Context, hc *http.Client, addr string) (Membership, error)
	// Remove removes member from the configuration, returning once the
	// change is committed.
	Remove func(ctx context.Context, hc *http.Client, addr, member string) error
	// AddLearner adds a new member as a learner, returning once the
	// change is committed.
	AddLearner func(ctx context.Context, hc *http.Client, addr string, peer Member) error
	// Promote makes a caught-up learner a voter; an error if it is not
	// caught up yet (the harness retries).
	Promote func(ctx context.Context, hc *http.Client, addr string, peer Member) error
	// Transfer asks the cluster to hand leadership to member.
	Transfer func(ctx context.Context, hc *http.Client, addr, member string) error
	// JoinArgs is the command of a new member self joining a cluster
	// whose configuration (learners included, self among them) is all.
	JoinArgs func(self Member, all []Member) []string
}

// Membership is a configuration as one member reports it: member IDs.
type Membership struct {
	Voters, Learners []string
}

func (m Membership) String() string {
	s := "voters " + strings.Join(m.Voters, ",")
	if len(m.Learners) > 0 {
		s += " learners " + strings.Join(m.Learners, ",")
	}
	return s
}

func (m Membership) has(member string) bool {
	return slices.Contains(m.Voters, member) || slices.Contains(m.Learners, member)
}

// memberOpTimeout bounds one membership change, retries included: a
// change needs a leader, which a cluster under other faults may lack
// for a while.
const memberOpTimeout = 30 * time.Second

// memberChange is what one change did, for Evidence.
type memberChange struct {
	bit    bool
	detail string
}

// Removed lists the slots whose member is out of the configuration.
func (c *Cluster) Removed() []string {
	c.memMu.Lock()
	defer c.memMu.Unlock()
	var out []string
	for _, n := range c.nodes {
		if n.removed {
			out = append(out, n.name)
		}
	}
	return out
}

// memberID is the member ID slot n hosts now.
func (n *node) memberID() string { return nemesis.MemberID(n.name, n.incarnation) }

// slotOf maps a member ID to the slot hosting it (itself if unknown).
func (c *Cluster) slotOf(member string) string {
	for _, n := range c.nodes {
		if n.memberID() == member {
			return n.name
		}
	}
	return member
}

func (c *Cluster) memberAPI() (*MemberAPI, error) {
	if c.cfg.Target.Members == nil {
		return nil, fmt.Errorf("the %s target takes no membership changes", c.cfg.Target.Name)
	}
	return c.cfg.Target.Members, nil
}

// viaMembers runs op against the members in turn, skipping except
// (removed slots are skipped always), until one succeeds or the deadline
// passes; done, if set, says after a failure whether the change happened
// anyway (an earlier attempt that timed out may have committed it).
func (c *Cluster) viaMembers(ctx context.Context, what, except string, op func(ctx context.Context, addr string) error, done func(ctx context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, memberOpTimeout)
	defer cancel()
	var errs []string
	for round := 0; ; round++ {
		for _, n := range c.nodes {
			if n.removed || n.name == except {
				continue
			}
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			err := op(actx, n.addr())
			acancel()
			if err == nil {
				return nil
			}
			if done != nil && done(ctx) {
				return nil
			}
			if round == 0 {
				errs = append(errs, fmt.Sprintf("via %s: %v", n.name, err))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no member did it within %v (%s)", what, memberOpTimeout, strings.Join(errs, "; "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// views asks every member for its configuration, for the record.
func (c *Cluster) views(ctx context.Context, api *MemberAPI) (map[string]Membership, string) {
	out := map[string]Membership{}
	var parts []string
	for _, n := range c.nodes {
		if n.removed {
			parts = append(parts, n.name+": removed")
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := api.List(vctx, c.http, n.addr())
		cancel()
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s (%s): no answer", n.name, n.memberID()))
			continue
		}
		out[n.name] = m
		parts = append(parts, fmt.Sprintf("%s (%s): %s", n.name, n.memberID(), m))
	}
	return out, strings.Join(parts, "; ")
}

// seenBy counts the members whose view satisfies ok, and those that
// answered.
func seenBy(views map[string]Membership, ok func(Membership) bool) (yes, answered int) {
	for _, m := range views {
		answered++
		if ok(m) {
			yes++
		}
	}
	return yes, answered
}

// RemoveMember removes slot's member and stops its container.
func (c *Cluster) RemoveMember(ctx context.Context, slot string) error {
	api, err := c.memberAPI()
	if err != nil {
		return err
	}
	n, err := c.node(slot)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if n.removed {
		return fmt.Errorf("%s is already removed", slot)
	}
	member := n.memberID()
	_, before := c.views(ctx, api)
	gone := func(ctx context.Context) bool {
		for _, o := range c.nodes {
			if o == n || o.removed {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			m, err := api.List(lctx, c.http, o.addr())
			cancel()
			if err == nil {
				return !m.has(member)
			}
		}
		return false
	}
	// The member itself too: it may lead, and a leader may remove itself.
	err = c.viaMembers(ctx, "remove "+member, "", func(ctx context.Context, addr string) error {
		return api.Remove(ctx, c.http, addr, member)
	}, gone)
	if err != nil {
		return err
	}
	c.setRemoved(n, true)
	// A removed member has no business running (etcd stops itself).
	if err := c.Kill(ctx, slot); err != nil {
		return fmt.Errorf("stop removed %s: %w", slot, err)
	}
	views, after := c.views(ctx, api)
	yes, answered := seenBy(views, func(m Membership) bool { return !m.has(member) })
	c.record(memberChange{bit: yes > answered/2,
		detail: fmt.Sprintf("remove %s (member %s): %d of %d members answering no longer list it; before: %s; after: %s", slot, member, yes, answered, before, after)})
	return nil
}

// AddMember brings a removed slot back as a new member: added as a
// learner, its container recreated on an empty volume with the target's
// join flags, promoted once caught up.
func (c *Cluster) AddMember(ctx context.Context, slot string) error {
	api, err := c.memberAPI()
	if err != nil {
		return err
	}
	n, err := c.node(slot)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !n.removed {
		return fmt.Errorf("%s is a member (%s): remove it first", slot, n.memberID())
	}
	views, before := c.views(ctx, api)
	// An earlier add of this slot that failed half way may have left its
	// member in the configuration as a learner: out with it first.
	for _, m := range views {
		for k := range n.incarnation {
			if old := nemesis.MemberID(n.name, k+1); m.has(old) {
				_ = c.viaMembers(ctx, "remove stale "+old, slot, func(ctx context.Context, addr string) error {
					return api.Remove(ctx, c.http, addr, old)
				}, nil)
			}
		}
		break
	}
	// The ID is spent from the first attempt on: even a failed add may
	// have reached the log.
	c.memMu.Lock()
	n.incarnation++
	c.memMu.Unlock()
	member := n.memberID()
	peer := Member{Name: member, IP: n.ip}
	listed := func(ctx context.Context) bool {
		for _, o := range c.nodes {
			if o.removed {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			m, err := api.List(lctx, c.http, o.addr())
			cancel()
			if err == nil {
				return m.has(member)
			}
		}
		return false
	}
	err = c.viaMembers(ctx, "add "+member+" as a learner", "", func(ctx context.Context, addr string) error {
		return api.AddLearner(ctx, c.http, addr, peer)
	}, listed)
	if err != nil {
		return err
	}
	var all []Member
	for _, o := range c.nodes {
		if !o.removed || o == n {
			all = append(all, Member{Name: o.memberID(), IP: o.ip})
		}
	}
	target := c.commitIndex(ctx)
	if err := c.recreate(ctx, n, api.JoinArgs(peer, all)); err != nil {
		return fmt.Errorf("start %s in slot %s: %w", member, slot, err)
	}
	lag := c.catchUp(ctx, n, target)
	err = c.viaMembers(ctx, "promote "+member, "", func(ctx context.Context, addr string) error {
		return api.Promote(ctx, c.http, addr, peer)
	}, func(ctx context.Context) bool { return c.isVoter(ctx, api, member) })
	if err != nil {
		return err
	}
	c.setRemoved(n, false)
	views, after := c.views(ctx, api)
	yes, answered := seenBy(views, func(m Membership) bool { return slices.Contains(m.Voters, member) })
	c.record(memberChange{bit: answered > 0 && yes > answered/2,
		detail: fmt.Sprintf("add %s as member %s (learner%s, then promoted): %d of %d members answering list it as a voter; before: %s; after: %s", slot, member, lag, yes, answered, before, after)})
	return nil
}

// commitIndex is the highest commit index a member reports (0 if the
// target reports none, as etcd's status here does not).
func (c *Cluster) commitIndex(ctx context.Context) uint64 {
	var best uint64
	for _, o := range c.nodes {
		if o.removed {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.status(sctx, o)
		cancel()
		if err == nil {
			best = max(best, st.Commit)
		}
	}
	return best
}

// catchUp waits, up to memberOpTimeout, for the new member in n to
// commit up to target before it is promoted: promoted earlier, a lagging
// voter only slows the quorum (thesis §4.2.1). etcd refuses to promote a
// lagging learner by itself, and reports no commit index here.
func (c *Cluster) catchUp(ctx context.Context, n *node, target uint64) string {
	if target == 0 {
		return ""
	}
	began := time.Now()
	var last uint64
	for time.Since(began) < memberOpTimeout && ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.status(sctx, n)
		cancel()
		if err == nil {
			last = st.Commit
			if st.Commit >= target {
				return fmt.Sprintf(", caught up to commit %d in %v", st.Commit, time.Since(began).Round(time.Millisecond))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf(", NOT caught up (commit %d of %d) within %v", last, target, memberOpTimeout)
}

func (c *Cluster) isVoter(ctx context.Context, api *MemberAPI, member string) bool {
	for _, o := range c.nodes {
		if o.removed {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		m, err := api.List(lctx, c.http, o.addr())
		cancel()
		if err == nil && slices.Contains(m.Voters, member) {
			return true
		}
	}
	return false
}

// recreate replaces slot n's stopped container by a new one running
// args on an empty volume, keeping the slot's IP, alias and host port.
func (c *Cluster) recreate(ctx context.Context, n *node, args []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, err := c.inspect(ctx, n); err == nil && st.Running {
		if _, err := c.api.ContainerKill(ctx, n.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			return fmt.Errorf("stop the old container: %w", err)
		}
	}
	old := retired{member: nemesis.MemberID(n.name, n.incarnation-1), id: n.ctr.GetContainerID()}
	n.retired = append(n.retired, old)
	// The new member's volume is empty: whatever corruption the old one
	// took is no longer there to be judged at its next start.
	delete(c.corrupted, n.name)
	if err := c.createNode(ctx, n, append(args, c.cfg.Args...)); err != nil {
		return err
	}
	if c.grudge != nil || c.loss != nil {
		if err := c.apply(ctx, n); err != nil {
			return err
		}
	}
	return c.waitUp(ctx, n, 30*time.Second, "a connect to its client port", func(ctx context.Context) error {
		return c.listening(ctx, n)
	})
}

// TransferLeader asks the cluster to make slot's member the leader and
// waits, up to ten election timeouts, for it to lead.
func (c *Cluster) TransferLeader(ctx context.Context, slot string) error {
	api, err := c.memberAPI()
	if err != nil {
		return err
	}
	n, err := c.node(slot)
	if err != nil {
		return err
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if n.removed {
		return fmt.Errorf("%s is removed", slot)
	}
	member := n.memberID()
	before := c.leaders(ctx)
	err = c.viaMembers(ctx, "transfer leadership to "+member, "", func(ctx context.Context, addr string) error {
		return api.Transfer(ctx, c.http, addr, member)
	}, nil)
	if err != nil {
		return err
	}
	wait := 10 * c.cfg.Target.ElectionTimeout
	deadline := time.Now().Add(wait)
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, serr := c.status(sctx, n)
		cancel()
		if serr == nil && st.Role == "leader" {
			c.record(memberChange{bit: true,
				detail: fmt.Sprintf("transfer-leader to %s (member %s): it leads in term %d; leaders before: %s; after: %s", slot, member, st.Term, before, c.leaders(ctx))})
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.record(memberChange{bit: false,
				detail: fmt.Sprintf("transfer-leader to %s (member %s): it did not lead within %v; leaders before: %s; after: %s", slot, member, wait, before, c.leaders(ctx))})
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leaders describes who each live member says leads.
func (c *Cluster) leaders(ctx context.Context) string {
	var parts []string
	for _, n := range c.nodes {
		if n.removed {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := c.status(sctx, n)
		cancel()
		if err != nil {
			parts = append(parts, n.name+": no answer")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s, leader %s, term %d", n.name, st.Role, orDash(st.Leader), st.Term))
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *Cluster) setRemoved(n *node, removed bool) {
	c.memMu.Lock()
	n.removed = removed
	c.memMu.Unlock()
}

func (c *Cluster) record(ch memberChange) {
	c.memMu.Lock()
	c.changes = append(c.changes, ch)
	c.memMu.Unlock()
}

// membershipEvidence reports the changes made since the last evidence:
// the configuration each member reported before and after each.
func (c *Cluster) membershipEvidence(a nemesis.Action) (bool, string) {
	c.memMu.Lock()
	changes := c.changes
	c.changes = nil
	c.memMu.Unlock()
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

// retired is a container a slot hosted before its current member.
type retired struct {
	member, id string
}
