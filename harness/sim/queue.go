package sim

import "container/heap"

// event is something that happens at a virtual instant. seq breaks ties
// in scheduling order, so equal times never depend on heap internals.
type event struct {
	at  int64
	seq uint64
	fn  func()
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// clock is the simulator's virtual time and its agenda.
type clock struct {
	now    int64
	seq    uint64
	agenda eventHeap
	ran    uint64
}

// after schedules fn d nanoseconds from now.
func (c *clock) after(d int64, fn func()) {
	c.seq++
	heap.Push(&c.agenda, event{at: c.now + max(d, 0), seq: c.seq, fn: fn})
}

// step runs the next event; false if there is none.
func (c *clock) step() bool {
	if len(c.agenda) == 0 {
		return false
	}
	e := heap.Pop(&c.agenda).(event)
	c.now = e.at
	c.ran++
	e.fn()
	return true
}

// runUntil executes events in time order up to and including t.
func (c *clock) runUntil(t int64) {
	for len(c.agenda) > 0 && c.agenda[0].at <= t {
		e := heap.Pop(&c.agenda).(event)
		c.now = e.at
		c.ran++
		e.fn()
	}
	c.now = max(c.now, t)
}
