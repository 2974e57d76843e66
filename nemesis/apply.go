package nemesis

import (
	"context"
	"errors"
	"fmt"
)

// Apply carries out an action against a backend. For an action on several
// nodes it tries every node and reports all failures.
func Apply(ctx context.Context, f Faults, a Action) error {
	each := func(op func(context.Context, string) error) error {
		var errs []error
		for _, n := range a.Nodes {
			if err := op(ctx, n); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", a.F, n, err))
			}
		}
		return errors.Join(errs...)
	}
	if handled, err := applyExtra(ctx, f, a); handled {
		return err
	}
	if handled, err := applyMembership(ctx, f, a); handled {
		return err
	}
	switch a.F {
	case "partition":
		return f.Partition(ctx, a.Grudge)
	case "heal":
		return f.Heal(ctx)
	case "kill":
		return each(f.Kill)
	case "start":
		return each(f.Start)
	case "pause":
		return each(f.Pause)
	case "resume":
		return each(f.Resume)
	}
	return fmt.Errorf("nemesis: unknown action %q", a.F)
}

// HealAll undoes every fault: heal the network, restore degraded links,
// resume paused nodes, start killed ones. Backends treat these as no-ops
// where nothing is wrong, so it is safe to call at the end of any run.
// (A node whose log was damaged beyond repair does not start: that is
// the error its start returns.) Last, every slot removed from the
// configuration is added back as a new member, once the nodes are up to
// take it in.
func HealAll(ctx context.Context, f Faults) error {
	nodes := f.Nodes()
	var restore error
	if lf, ok := f.(LinkFaults); ok {
		restore = lf.RestoreLinks(ctx)
	}
	return errors.Join(
		f.Heal(ctx),
		restore,
		Apply(ctx, f, Action{F: "resume", Nodes: nodes}),
		Apply(ctx, f, Action{F: "start", Nodes: nodes}),
		restoreMembers(ctx, f),
	)
}
