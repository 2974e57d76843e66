// Package nemesis is the fault vocabulary of raftcheck: the Faults a
// backend can inject, and schedules of faults written once against it.
// The docker backend injects faults for real (iptables, SIGKILL, the
// cgroup freezer); the simulator injects them in virtual time.
package nemesis

import "context"

// Faults is what a backend can do to the cluster under test. Node names
// are those of Nodes. Every method returns once the fault is in place
// (or failed to be), so the caller can record when it took effect.
type Faults interface {
	// Nodes lists the cluster's members, sorted.
	Nodes() []string
	// Partition makes every node drop the traffic of the nodes its
	// grudge names, replacing any partition in place. A grudge can
	// express what disjoint groups cannot: a ring of overlapping
	// majorities, or a bridge node that sees both sides.
	Partition(ctx context.Context, g Grudge) error
	// Heal removes every partition.
	Heal(ctx context.Context) error
	// Kill stops a node's process at once (SIGKILL): unsynced writes may
	// be lost, nothing is shut down cleanly.
	Kill(ctx context.Context, node string) error
	// Start restarts a killed node with its data.
	Start(ctx context.Context, node string) error
	// Pause freezes a node's process; Resume thaws it.
	Pause(ctx context.Context, node string) error
	Resume(ctx context.Context, node string) error
}

// HealAllF is the f of the harness's final action, which undoes every
// fault (HealAll).
const HealAllF = "heal-all"

// Known reports whether f is an action Apply can carry out.
func Known(f string) bool {
	switch f {
	case "partition", "heal", "kill", "start", "pause", "resume",
		"degrade", "restore-links", "lose-unfsynced", "corrupt",
		"remove", "add", "replace", "transfer-leader", "propose":
		return true
	}
	return false
}

// IsFault reports whether an action's f puts a fault in force (as
// opposed to undoing one).
func IsFault(f string) bool {
	switch f {
	case "partition", "kill", "pause", "degrade", "lose-unfsynced", "corrupt",
		"remove", "replace", "transfer-leader", "propose":
		return true
	}
	return false
}

// HasEvidence reports whether the harness asks the backend for evidence
// that an action took effect: every fault, the add that ends a remove
// (the membership before and after each change), and the start that ends
// a corruption (how the node took its damaged log).
func HasEvidence(f string) bool { return IsFault(f) || f == "add" || f == "start" }

// JudgedAtEnd reports whether a fault of kind f bit only if the action
// that undid it shows so too: a corrupted log when its node starts (it
// recovers from a torn tail, it refuses a flipped byte), a removal when
// its slot is added back.
func JudgedAtEnd(f string) bool { return f == "corrupt" || f == "remove" }

// Supports reports whether a backend can take every fault of the kinds
// (the --nemesis families), and which one it cannot.
func Supports(f Faults, kinds []string) (string, bool) {
	for _, k := range kinds {
		var ok bool
		switch k {
		case "loss", "latency":
			_, ok = f.(LinkFaults)
		case "lose-unfsynced":
			_, ok = f.(PowerFaults)
		case "torn-tail":
			_, ok = f.(DiskFaults)
		case "flip-byte":
			_, disk := f.(DiskFaults)
			_, members := f.(MembershipFaults)
			ok = disk && members
		case "membership":
			_, ok = f.(MembershipFaults)
		default:
			ok = true
		}
		if !ok {
			return k, false
		}
	}
	return "", true
}

// Grudge maps a node to the nodes whose traffic it drops (Jepsen's term).
type Grudge map[string][]string

// Cuts reports whether traffic from -> to is dropped.
func (g Grudge) Cuts(from, to string) bool {
	for _, n := range g[to] {
		if n == from {
			return true
		}
	}
	return false
}
