package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Faults beyond partition, kill and pause. A backend takes them by
// implementing the optional interfaces below; Apply checks, and a backend
// that lacks one (the simulator, for now) gets a clear error instead of a
// fault silently not injected.

// LinkFault degrades directed links between nodes: each packet on them is
// dropped with probability Loss, and the data on them is held for Delay.
type LinkFault struct {
	// Links names the links as a grudge does: Links[to] lists the nodes
	// whose packets to receives degraded. It may be asymmetric.
	Links Grudge `json:"links"`
	// Loss is the probability, in [0, 1], that a packet is dropped.
	Loss float64 `json:"loss,omitempty"`
	// Delay is added latency (the docker backend needs Config.Latency).
	Delay time.Duration `json:"delay,omitempty"`
}

// Check reports a LinkFault that names no link, does nothing, or has a
// loss or delay out of range.
func (lf LinkFault) Check() error {
	if lf.Loss < 0 || lf.Loss > 1 {
		return fmt.Errorf("nemesis: loss %v: want a probability in [0, 1]", lf.Loss)
	}
	if lf.Delay < 0 {
		return fmt.Errorf("nemesis: delay %v: want a non-negative duration", lf.Delay)
	}
	if lf.Loss == 0 && lf.Delay == 0 {
		return fmt.Errorf("nemesis: a link fault with neither loss nor delay")
	}
	for _, froms := range lf.Links {
		if len(froms) > 0 {
			return nil
		}
	}
	return fmt.Errorf("nemesis: a link fault that names no link")
}

// LinkFaults is a backend that can degrade links.
type LinkFaults interface {
	// Degrade replaces the link faults in force with lf.
	Degrade(ctx context.Context, lf LinkFault) error
	// RestoreLinks removes every link fault.
	RestoreLinks(ctx context.Context) error
}

// PowerFaults is a backend whose nodes can lose power: what they have not
// fsynced is gone.
type PowerFaults interface {
	// LoseUnfsynced discards every byte and file name the nodes have not
	// fsynced and stops them at once, as Kill does; Start brings them
	// back on what was durable. It returns the bytes discarded per node.
	LoseUnfsynced(ctx context.Context, nodes ...string) (map[string]int64, error)
}

// Corruptions of a node's log, the names a corrupt action carries.
const (
	// TornTail cuts the newest log segment in the middle of its last
	// record, as a crash during a write does: the node must recover.
	TornTail = "torn-tail"
	// FlipByte flips one byte inside a record that is not the last: the
	// node must refuse to start, naming the file and offset.
	FlipByte = "flip-byte"
)

// ReplaceCorrupted names the replace that brings back a node that
// refused its log.
const ReplaceCorrupted = "replace-corrupted"

// Corruptions lists the kinds Corrupt takes.
var Corruptions = []string{TornTail, FlipByte}

// Corruption says what Corrupt did.
type Corruption struct {
	Kind string `json:"kind"`
	// File is the damaged file inside the node; Offset is where the
	// damaged record starts.
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	// Detail says what changed, for humans.
	Detail string `json:"detail"`
}

// DiskFaults is a backend that can damage a stopped node's files.
type DiskFaults interface {
	// Corrupt damages the log of a node that is down (killed), in the
	// way kind (one of Corruptions) names.
	Corrupt(ctx context.Context, node, kind string) (Corruption, error)
}

// cannot is the error for a fault the backend does not take.
func cannot(f Faults, fault string) error {
	return fmt.Errorf("nemesis: this backend (%T) cannot take fault %q", f, fault)
}

// applyExtra carries out the actions of the optional interfaces.
func applyExtra(ctx context.Context, f Faults, a Action) (handled bool, err error) {
	switch a.F {
	case "degrade":
		lf, ok := f.(LinkFaults)
		if !ok {
			return true, cannot(f, a.F)
		}
		if a.Link == nil {
			return true, fmt.Errorf("nemesis: degrade without a link fault")
		}
		if err := a.Link.Check(); err != nil {
			return true, err
		}
		return true, lf.Degrade(ctx, *a.Link)
	case "restore-links":
		lf, ok := f.(LinkFaults)
		if !ok {
			return true, cannot(f, a.F)
		}
		return true, lf.RestoreLinks(ctx)
	case "lose-unfsynced":
		pf, ok := f.(PowerFaults)
		if !ok {
			return true, cannot(f, a.F)
		}
		_, err := pf.LoseUnfsynced(ctx, a.Nodes...)
		return true, err
	case "corrupt":
		// Files are damaged only while the node is down: corrupt kills
		// it first; the recovery is start.
		df, ok := f.(DiskFaults)
		if !ok {
			return true, cannot(f, a.F)
		}
		if !slices.Contains(Corruptions, a.Name) {
			return true, fmt.Errorf("nemesis: corrupt %q: known corruptions are %v", a.Name, Corruptions)
		}
		for _, n := range a.Nodes {
			if err := f.Kill(ctx, n); err != nil {
				return true, fmt.Errorf("corrupt %s: kill it first: %w", n, err)
			}
			if _, err := df.Corrupt(ctx, n, a.Name); err != nil {
				return true, fmt.Errorf("corrupt %s: %w", n, err)
			}
		}
		return true, nil
	}
	return false, nil
}

// nextExtra picks a fault of the kinds in ExtraKinds.
func (s *Schedule) nextExtra(kind, leader string, target func() string) (fault Action, recovery []Action) {
	switch kind {
	case "loss", "latency":
		lf := &LinkFault{}
		if kind == "loss" {
			lf.Loss = []float64{0.1, 0.3, 0.5}[s.rng.IntN(3)]
		} else {
			lf.Delay = []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond}[s.rng.IntN(3)]
		}
		var name string
		var g Grudge
		switch s.rng.IntN(3) {
		case 0:
			v := target()
			name, g = "loss-isolate", Isolate(s.nodes, v)
		case 1:
			nodes := s.shuffled()
			name, g = "loss-halves", Groups([][]string{nodes[:len(nodes)/2], nodes[len(nodes)/2:]})
		default:
			// One direction only: from receives, to does not hear well.
			nodes := s.shuffled()
			name, g = "loss-one-way", Grudge{nodes[0]: {nodes[1]}}
		}
		lf.Links = g
		if kind == "latency" {
			name = "latency" + strings.TrimPrefix(name, "loss")
		}
		return Action{F: "degrade", Name: name, Link: lf}, []Action{{F: "restore-links"}}
	case "lose-unfsynced":
		victims := []string{target()}
		name := "lose-one"
		switch s.rng.IntN(3) {
		case 0:
			victims, name = s.pick(len(s.nodes)/2+1), "lose-majority"
		case 1:
			// The whole cluster at once, as a data center loses power: no
			// node keeps what it acknowledged without fsyncing, so a
			// system that fsyncs lazily loses acknowledged writes, which
			// kill -9 never shows (the page cache survives a process).
			victims, name = slices.Clone(s.nodes), "lose-all"
		default:
			if victims[0] == leader {
				name = "lose-leader"
			}
		}
		return Action{F: "lose-unfsynced", Name: name, Nodes: victims}, []Action{{F: "start", Nodes: victims}}
	case "flip-byte":
		// The node must refuse to start: the start shows it did. It may
		// not then come back on an empty disk under its old member ID
		// (it would have forgotten its votes and its log), so it is
		// replaced: removed, and added back under a new member ID.
		v := []string{target()}
		return Action{F: "corrupt", Name: FlipByte, Nodes: v},
			[]Action{{F: "start", Nodes: v}, {F: "replace", Name: ReplaceCorrupted, Nodes: v}}
	default: // torn-tail
		v := target()
		return Action{F: "corrupt", Name: TornTail, Nodes: []string{v}}, []Action{{F: "start", Nodes: []string{v}}}
	}
}
