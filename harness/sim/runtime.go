package sim

import (
	"context"
	"fmt"
	"time"
)

// runtime runs the engine's processes in virtual time. Each process is a
// goroutine, but only one of them, or the event loop, runs at any moment:
// they pass a baton. A process that waits (Sleep, an operation in flight)
// schedules its own wake-up on the clock and hands the baton back to the
// loop; the loop runs events in time order and hands the baton to a
// process when its wake-up comes. So the interleaving is the clock's, and
// a run stays a pure function of its seed, whatever Go's scheduler does.
type runtime struct {
	clock *clock
	// baton carries control back to the loop when the running process
	// parks or returns.
	baton chan struct{}
	// cur is the process holding the baton (nil: the loop).
	cur *proc
}

type proc struct {
	wake chan struct{}
	done bool
}

func newRuntime(c *clock) *runtime { return &runtime{clock: c, baton: make(chan struct{})} }

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
	p := &proc{wake: make(chan struct{})}
	go func() {
		<-p.wake
		fn()
		p.done = true
		r.baton <- struct{}{}
	}()
	r.clock.after(0, func() { r.resume(p) })
}

// wake schedules p to continue at the current instant, as an event of
// its own: never from inside another's step.
func (r *runtime) wake(p *proc) { r.clock.after(0, func() { r.resume(p) }) }

// resume hands the baton to p (from the loop) and takes it back once p
// parks or returns.
func (r *runtime) resume(p *proc) {
	if p.done {
		return
	}
	r.cur = p
	p.wake <- struct{}{}
	<-r.baton
	r.cur = nil
}

// park hands the baton back to the loop (from p) and waits for it.
func (r *runtime) park(p *proc) {
	r.baton <- struct{}{}
	<-p.wake
	r.cur = p
}

func (r *runtime) self() *proc {
	if r.cur == nil {
		panic("sim: a process call outside a process") // a bug in the simulator, not input
	}
	return r.cur
}
