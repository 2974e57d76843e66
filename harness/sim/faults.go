package sim

import (
	"context"
	"fmt"

	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
)

// faults implements nemesis.Faults in virtual time: each fault takes
// effect at the instant it is called.
type faults struct{ s *Simulator }

var _ nemesis.Faults = faults{}

func (f faults) Nodes() []string {
	out := make([]string, len(f.s.ids))
	for i, id := range f.s.ids {
		out[i] = string(id)
	}
	return out
}

func (f faults) Partition(_ context.Context, g nemesis.Grudge) error {
	f.s.net.grudge = g
	return nil
}

func (f faults) Heal(context.Context) error {
	f.s.net.grudge = nil
	return nil
}

func (f faults) lookup(node string) (*simNode, error) {
	n := f.s.node(raft.NodeID(node))
	if n == nil {
		return nil, fmt.Errorf("sim: no node %q", node)
	}
	return n, nil
}

func (f faults) Kill(_ context.Context, node string) error {
	n, err := f.lookup(node)
	if err == nil && n.up {
		n.crash()
	}
	return err
}

func (f faults) Start(_ context.Context, node string) error {
	n, err := f.lookup(node)
	if err != nil || n.up {
		return err
	}
	if err := n.boot(); err != nil {
		return err
	}
	n.process()
	return nil
}

func (f faults) Pause(_ context.Context, node string) error {
	n, err := f.lookup(node)
	if err == nil && n.up {
		n.paused = true
	}
	return err
}

func (f faults) Resume(_ context.Context, node string) error {
	n, err := f.lookup(node)
	if err == nil && n.up && n.paused {
		n.resume()
	}
	return err
}

// Leader is the running node that leads the highest term.
func (f faults) Leader(context.Context) (string, error) {
	return f.s.leaderAmong(f.Nodes()), nil
}
