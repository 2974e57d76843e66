package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
)

// The Simulator implements nemesis.Faults in virtual time: each fault
// takes effect at the instant it is called.
var _ nemesis.Faults = (*Simulator)(nil)

func (s *Simulator) Nodes() []string {
	out := make([]string, len(s.ids))
	for i, id := range s.ids {
		out[i] = string(id)
	}
	return out
}

func (s *Simulator) Partition(_ context.Context, g nemesis.Grudge) error {
	s.network().partition(g)
	return nil
}

// Heal releases what a holding partition held. The heal after the
// workload phase also ends the network's weather: recovery is measured
// on a quiet network.
func (s *Simulator) Heal(context.Context) error {
	s.network().partition(nil)
	if s.ended {
		s.net.calm()
	}
	return nil
}

// lookup finds a node by its slot name, as the harness names nodes.
func (s *Simulator) lookup(node string) (*simNode, error) {
	i := slices.Index(s.ids, raft.NodeID(node))
	if i < 0 {
		return nil, fmt.Errorf("sim: no node %q", node)
	}
	return s.nodes[i], nil
}

func (s *Simulator) Kill(_ context.Context, node string) error {
	n, err := s.lookup(node)
	if err == nil && n.up {
		s.network().resume(n.slot, false) // its unflushed writes die with it
		n.crash()
	}
	return err
}

func (s *Simulator) Start(_ context.Context, node string) error {
	n, err := s.lookup(node)
	if err != nil || n.up || n.removed {
		return err // a removed slot comes back only through AddMember
	}
	if err := n.boot(); err != nil {
		return err
	}
	n.process()
	s.network().restarted(n.slot)
	return nil
}

// LoseUnfsynced is a power failure: in the simulator every crash is one,
// since a node's disk keeps only what it synced. It returns the entries
// (not bytes) each node lost.
func (s *Simulator) LoseUnfsynced(ctx context.Context, nodes ...string) (map[string]int64, error) {
	lost := map[string]int64{}
	for _, name := range nodes {
		n, err := s.lookup(name)
		if err != nil {
			return lost, err
		}
		if n.up {
			lost[name] = int64(n.disk.Unsynced())
			s.network().resume(n.slot, false) // its unflushed writes die with it
			n.crash()
		}
	}
	return lost, nil
}

var _ nemesis.PowerFaults = (*Simulator)(nil)

// Degrade puts the link fault in force on the simulated network:
// messages on its links are dropped with its loss and held for its delay.
func (s *Simulator) Degrade(_ context.Context, lf nemesis.LinkFault) error {
	if err := lf.Check(); err != nil {
		return err
	}
	s.network().degraded = &lf
	return nil
}

// RestoreLinks removes the link fault in force.
func (s *Simulator) RestoreLinks(context.Context) error {
	s.network().degraded = nil
	return nil
}

var _ nemesis.LinkFaults = (*Simulator)(nil)

func (s *Simulator) Pause(_ context.Context, node string) error {
	n, err := s.lookup(node)
	if err == nil && n.up && !n.paused {
		n.paused = true
		s.network().pause(n.slot)
	}
	return err
}

func (s *Simulator) Resume(_ context.Context, node string) error {
	n, err := s.lookup(node)
	if err == nil && n.up && n.paused {
		s.network().resume(n.slot, true)
		n.resume()
	}
	return err
}

// Evidence reads the simulated cluster's state right after an action:
// the simulator cannot fail to inject, but a fault aimed at a node that
// was already down, say, changes nothing, and the record says so.
func (s *Simulator) Evidence(_ context.Context, a nemesis.Action) (bool, string) {
	switch a.F {
	case "partition":
		if s.net.grudge == nil {
			return false, "no partition in place"
		}
		var cut []string
		for _, to := range s.Nodes() {
			if from := s.net.grudge[to]; len(from) > 0 {
				cut = append(cut, fmt.Sprintf("%s drops %s", to, strings.Join(from, ",")))
			}
		}
		how := "dropped"
		if s.net.holds {
			how = "held until the heal"
		}
		return len(cut) > 0, "the simulated network: " + strings.Join(cut, "; ") + "; what it cuts is " + how
	case "degrade":
		lf := s.network().degraded
		if lf == nil {
			return false, "no link fault in force"
		}
		var links []string
		for _, to := range s.Nodes() {
			if from := lf.Links[to]; len(from) > 0 {
				links = append(links, fmt.Sprintf("%s<-%s", to, strings.Join(from, ",")))
			}
		}
		return true, fmt.Sprintf("the simulated network: %s lose %.0f%% and wait %v more", strings.Join(links, "; "), lf.Loss*100, lf.Delay)
	case "kill", "pause", "lose-unfsynced":
		var bad []string
		for _, name := range a.Nodes {
			n, err := s.lookup(name)
			switch {
			case err != nil:
				bad = append(bad, err.Error())
			case a.F != "pause" && n.up:
				bad = append(bad, name+" still up")
			case a.F == "pause" && !n.paused:
				bad = append(bad, name+" not paused (down?)")
			}
		}
		if len(bad) > 0 {
			return false, strings.Join(bad, "; ")
		}
		return true, fmt.Sprintf("%s: %s", strings.Join(a.Nodes, ","), map[string]string{"kill": "down, unsynced writes lost", "lose-unfsynced": "power lost, unsynced writes gone",
			"pause": "frozen, messages held"}[a.F])
	case "remove", "add", "replace", "transfer-leader", "propose":
		return s.membershipEvidence(a)
	}
	return false, "no evidence for " + a.F
}
