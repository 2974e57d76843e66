package sim

import (
	"context"
	"fmt"
	"iter"
	"time"
)

// runtime runs the engine's processes in virtual time. Each process is a
// coroutine (iter.Pull): only one of them, or the event loop, runs at any
// moment. A process that waits (Sleep, an operation in flight) schedules
// its own wake-up on the clock and yields to the loop; the loop runs
// events in time order and resumes a process when its wake-up comes. So
// the interleaving is the clock's, and a run stays a pure function of its
// seed, whatever Go's scheduler does. Coroutines rather than goroutines
// passing a channel baton: a coroutine switch never goes through the
// scheduler, where each channel handoff woke an idle thread for nothing
// (a seventh of the simulator's CPU went to futex calls).
type runtime struct {
	clock *clock
	// cur is the running process (nil: the loop).
	cur *proc
}

type proc struct {
	// next resumes the process until it parks or returns (iter.Pull).
	next func() (struct{}, bool)
	// yield, called from inside the process, parks it.
	yield func(struct{}) bool
	done  bool
}

func newRuntime(c *clock) *runtime { return &runtime{clock: c} }

func (r *runtime) Now() time.Duration { return time.Duration(r.clock.now) }

// Sleep parks the calling process for d of virtual time. An ended ctx
// returns at once: an interrupt ends a simulation without waiting.
func (r *runtime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := r.self()
	r.clock.after(int64(d), func() { r.resume(p) })
	r.park(p)
	return nil
}

// Parallel runs fns as processes and parks the caller until all return.
func (r *runtime) Parallel(fns ...func()) {
	if len(fns) == 0 {
		return
	}
	parent := r.self()
	left := len(fns)
	for _, fn := range fns {
		r.spawn(func() {
			fn()
			if left--; left == 0 {
				r.wake(parent)
			}
		})
	}
	r.park(parent)
}

// run executes main as the first process and runs the clock until it
// returns. Node timers run forever, so main's end is the run's end.
func (r *runtime) run(main func()) error {
	finished := false
	r.spawn(func() {
		main()
		finished = true
	})
	for !finished {
		if !r.clock.step() {
			return fmt.Errorf("sim: deadlock: nothing left to run at %v and the run has not finished", time.Duration(r.clock.now))
		}
	}
	return nil
}

// spawn starts fn as a process at the current instant.
func (r *runtime) spawn(fn func()) {
	p := &proc{}
	// A process left parked when the run ends is never resumed or
	// stopped: the run is over, and nothing it holds is shared.
	p.next, _ = iter.Pull(func(yield func(struct{}) bool) {
		p.yield = yield
		fn()
	})
	r.clock.after(0, func() { r.resume(p) })
}

// wake schedules p to continue at the current instant, as an event of
// its own: never from inside another's step.
func (r *runtime) wake(p *proc) { r.clock.after(0, func() { r.resume(p) }) }

// resume runs p (from the loop) until it parks or returns.
func (r *runtime) resume(p *proc) {
	if p.done {
		return
	}
	r.cur = p
	if _, ok := p.next(); !ok {
		p.done = true
	}
	r.cur = nil
}

// park yields from p back to the loop, and returns when the loop resumes
// p.
func (r *runtime) park(p *proc) {
	p.yield(struct{}{})
	r.cur = p
}

func (r *runtime) self() *proc {
	if r.cur == nil {
		panic("sim: a process call outside a process") // a bug in the simulator, not input
	}
	return r.cur
}
