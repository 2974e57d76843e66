package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Membership changes as a nemesis (--nemesis membership). The nodes the
// schedule names are slots: n1..nN, fixed for the run (a container, a
// simulated process). The member a slot hosts has an ID of its own, which
// changes when the slot is added back: Raft implementations must never
// see an ID again once it was removed (a late message from the old
// incarnation could fake the new one's progress), so slot n3 hosts member
// n3 first, then n3b, n3c, ... (MemberID).
//
// The actions, each recorded as an invoke/info pair like every fault:
//
//   - remove: take the slots' members out of the configuration; the
//     slots' processes stop. A fault in force until the add that brings
//     the same slots back.
//   - add: bring removed slots back, each on an empty data directory
//     under a new member ID: added as a learner, promoted to voter once
//     it has caught up.
//   - replace: remove and add back at once, as an operator replaces a
//     machine; a fault that is over when the action completes.
//   - transfer-leader: hand leadership to the named slot's member (Raft
//     thesis §3.10); also over when it completes.
//
// No action removes so many slots that fewer than a majority of the
// original cluster would remain voters, and the final heal-all adds back
// every removed slot, so the cluster ends with as many voters as it began.
type MembershipFaults interface {
	// RemoveMember removes the member slot hosts, returning once the
	// change is committed and the slot's process stopped.
	RemoveMember(ctx context.Context, slot string) error
	// AddMember brings a removed slot back as a new member (learner,
	// caught up, promoted), returning once it is a voter.
	AddMember(ctx context.Context, slot string) error
	// TransferLeader makes slot's member the leader, returning once it
	// leads.
	TransferLeader(ctx context.Context, slot string) error
	// Removed lists the slots whose member is out of the configuration,
	// sorted.
	Removed() []string
}

// ChangeProposer is a backend that can propose a configuration change
// at its leader and return at once, without waiting for the change to
// commit: the simulator's choreographies, which need a change in the log
// at a precise instant. The action is "propose", its Name the change
// (remove, add-learner, promote), its node the slot; the change's fate
// (committed, or overwritten) shows in what follows.
type ChangeProposer interface {
	ProposeChange(ctx context.Context, change, slot string) error
}

// MemberID is the member ID of slot's incarnation-th member: the slot's
// own name first, then with a letter appended, b to z, then numbers.
func MemberID(slot string, incarnation int) string {
	switch {
	case incarnation <= 0:
		return slot
	case incarnation < 26:
		return slot + string(rune('a'+incarnation))
	}
	return fmt.Sprintf("%s-%d", slot, incarnation)
}

// MaxRemoved is how many of n slots may be removed at once: the voters
// left must be a majority of n.
func MaxRemoved(n int) int { return n - (n/2 + 1) }

// applyMembership carries out the membership actions.
func applyMembership(ctx context.Context, f Faults, a Action) (handled bool, err error) {
	switch a.F {
	case "remove", "add", "replace", "transfer-leader":
	case "propose":
		cp, ok := f.(ChangeProposer)
		if !ok {
			return true, cannot(f, a.F)
		}
		if len(a.Nodes) != 1 {
			return true, fmt.Errorf("nemesis: propose names %d nodes, want one", len(a.Nodes))
		}
		return true, cp.ProposeChange(ctx, a.Name, a.Nodes[0])
	default:
		return false, nil
	}
	mf, ok := f.(MembershipFaults)
	if !ok {
		return true, cannot(f, a.F)
	}
	if len(a.Nodes) == 0 {
		return true, fmt.Errorf("nemesis: %s names no node", a.F)
	}
	switch a.F {
	case "remove":
		for _, n := range a.Nodes {
			if err := removeGuarded(ctx, f, mf, n); err != nil {
				return true, fmt.Errorf("remove %s: %w", n, err)
			}
		}
		return true, nil
	case "add":
		return true, addBack(ctx, mf, a.Nodes)
	case "replace":
		for _, n := range a.Nodes {
			if err := removeGuarded(ctx, f, mf, n); err != nil {
				return true, fmt.Errorf("replace %s: remove: %w", n, err)
			}
			if err := mf.AddMember(ctx, n); err != nil {
				return true, fmt.Errorf("replace %s: add back: %w", n, err)
			}
		}
		return true, nil
	default: // transfer-leader
		if err := mf.TransferLeader(ctx, a.Nodes[0]); err != nil {
			return true, fmt.Errorf("transfer leadership to %s: %w", a.Nodes[0], err)
		}
		return true, nil
	}
}

// removeGuarded removes slot's member unless that would leave fewer
// voters than a majority of the original cluster: whatever a schedule
// says, the final reads and the liveness probe need a cluster that can
// recover.
func removeGuarded(ctx context.Context, f Faults, mf MembershipFaults, slot string) error {
	removed := mf.Removed()
	if slices.Contains(removed, slot) {
		return fmt.Errorf("%s is already removed", slot)
	}
	if len(removed)+1 > MaxRemoved(len(f.Nodes())) {
		return fmt.Errorf("refused: %v already removed, and fewer than a majority of the %d slots would remain voters", removed, len(f.Nodes()))
	}
	return mf.RemoveMember(ctx, slot)
}

// addBack adds back those of slots that are removed, one at a time (one
// configuration change at a time).
func addBack(ctx context.Context, mf MembershipFaults, slots []string) error {
	for _, n := range slots {
		if !slices.Contains(mf.Removed(), n) {
			continue
		}
		if err := mf.AddMember(ctx, n); err != nil {
			return fmt.Errorf("add %s: %w", n, err)
		}
	}
	return nil
}

// ErrNotRestored wraps heal-all's failure to add a removed slot back:
// a cluster that takes no configuration change after the heal is not
// live, a finding about the system rather than a harness failure.
var ErrNotRestored = errors.New("the membership was not restored")

// restoreMembers is heal-all's part: every removed slot is added back.
func restoreMembers(ctx context.Context, f Faults) error {
	mf, ok := f.(MembershipFaults)
	if !ok {
		return nil
	}
	if err := addBack(ctx, mf, mf.Removed()); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRestored, err)
	}
	return nil
}

// nextMembership picks a membership change.
func (s *Schedule) nextMembership(leader string, target func() string) (fault Action, recovery []Action) {
	switch s.rng.IntN(3) {
	case 0:
		victims := []string{target()}
		name := "remove-one"
		if max := MaxRemoved(len(s.nodes)); max > 1 && s.rng.IntN(3) == 0 {
			victims, name = s.pick(max), "remove-minority"
		} else if victims[0] == leader {
			name = "remove-leader"
		}
		return Action{F: "remove", Name: name, Nodes: victims}, []Action{{F: "add", Nodes: victims}}
	case 1:
		v := target()
		name := "replace-one"
		if v == leader {
			name = "replace-leader"
		}
		return Action{F: "replace", Name: name, Nodes: []string{v}}, nil
	}
	others := slices.DeleteFunc(slices.Clone(s.nodes), func(n string) bool { return n == leader })
	return Action{F: "transfer-leader", Name: "transfer-leader", Nodes: []string{others[s.rng.IntN(len(others))]}}, nil
}
