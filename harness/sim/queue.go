package sim

import "sync/atomic"

// action is what an event does: a closure (fn), or anything else the
// simulator schedules by the thousand and would rather not wrap in a
// closure of its own (a message's flight).
type action interface{ run() }

type fn func()

func (f fn) run() { f() }

// key orders an event: its virtual instant, then seq, the scheduling
// order, so equal times never depend on heap internals. (at, seq) is
// unique, so events come out in the same order from any correct heap.
type key struct {
	at   int64
	seq  uint64
	slot int32 // the event's action in agenda.acts
}

func (k key) before(o key) bool {
	if k.at != o.at {
		return k.at < o.at
	}
	return k.seq < o.seq
}

// agenda is a binary min-heap of pending events. It was container/heap
// over events holding closures: that boxed every event pushed and popped,
// and every swap while sifting wrote pointers the collector's write
// barrier had to record. Here the heap holds only pointer-free keys and
// each action stays in its slot from scheduling to running.
type agenda struct {
	heap []key
	acts []action
	free []int32 // slots of acts not in use
}

func (a *agenda) len() int { return len(a.heap) }

func (a *agenda) push(at int64, seq uint64, act action) {
	var slot int32
	if n := len(a.free); n > 0 {
		slot = a.free[n-1]
		a.free = a.free[:n-1]
		a.acts[slot] = act
	} else {
		slot = int32(len(a.acts))
		a.acts = append(a.acts, act)
	}
	k := key{at: at, seq: seq, slot: slot}
	h := append(a.heap, k)
	i := len(h) - 1
	for i > 0 { // sift the hole up, then fill it
		parent := (i - 1) / 2
		if !k.before(h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = k
	a.heap = h
}

// pop removes the earliest event; there must be one.
func (a *agenda) pop() (int64, action) {
	h := a.heap
	top := h[0]
	last := h[len(h)-1]
	h = h[:len(h)-1]
	a.heap = h
	if len(h) > 0 { // sift the hole at the root down, then fill it with last
		i := 0
		for {
			c := 2*i + 1
			if c >= len(h) {
				break
			}
			if r := c + 1; r < len(h) && h[r].before(h[c]) {
				c = r
			}
			if !h[c].before(last) {
				break
			}
			h[i] = h[c]
			i = c
		}
		h[i] = last
	}
	act := a.acts[top.slot]
	a.acts[top.slot] = nil // let the collector have it
	a.free = append(a.free, top.slot)
	return top.at, act
}

// clock is the simulator's virtual time and its agenda.
type clock struct {
	now    int64
	seq    uint64
	agenda agenda
	ran    uint64
	// shown mirrors now for the stall watchdog (stall.go), the one reader
	// outside the loop's goroutine; stored only when time moves.
	shown atomic.Int64
}

// after schedules f d nanoseconds from now.
func (c *clock) after(d int64, f func()) { c.schedule(d, fn(f)) }

// schedule schedules a d nanoseconds from now.
func (c *clock) schedule(d int64, a action) {
	c.seq++
	c.agenda.push(c.now+max(d, 0), c.seq, a)
}

// step runs the next event; false if there is none.
func (c *clock) step() bool {
	if c.agenda.len() == 0 {
		return false
	}
	c.run()
	return true
}

// runUntil executes events in time order up to and including t.
func (c *clock) runUntil(t int64) {
	for c.agenda.len() > 0 && c.agenda.heap[0].at <= t {
		c.run()
	}
	if t > c.now {
		c.now = t
		c.shown.Store(t)
	}
}

func (c *clock) run() {
	at, act := c.agenda.pop()
	if at != c.now {
		c.now = at
		c.shown.Store(at)
	}
	c.ran++
	act.run()
}
