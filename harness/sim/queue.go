package sim

// event is something that happens at a virtual instant. seq breaks ties
// in scheduling order, so equal times never depend on heap internals.
type event struct {
	at  int64
	seq uint64
	fn  func()
}

func (e *event) before(o *event) bool {
	if e.at != o.at {
		return e.at < o.at
	}
	return e.seq < o.seq
}

// eventHeap is a binary min-heap of events by (at, seq). Written out
// rather than through container/heap, whose interface boxes every event
// pushed and popped: the simulator runs millions of them, and the
// garbage they made was a good part of its cost. (at, seq) is unique,
// so the order events come out in is the same for any correct heap.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	a := *h
	i := len(a) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !a[i].before(&a[parent]) {
			break
		}
		a[i], a[parent] = a[parent], a[i]
		i = parent
	}
}

func (h *eventHeap) pop() event {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a[last] = event{} // drop the closure for the collector
	a = a[:last]
	*h = a
	i := 0
	for {
		l := 2*i + 1
		if l >= len(a) {
			break
		}
		least := l
		if r := l + 1; r < len(a) && a[r].before(&a[l]) {
			least = r
		}
		if !a[least].before(&a[i]) {
			break
		}
		a[i], a[least] = a[least], a[i]
		i = least
	}
	return top
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
	c.agenda.push(event{at: c.now + max(d, 0), seq: c.seq, fn: fn})
}

// step runs the next event; false if there is none.
func (c *clock) step() bool {
	if len(c.agenda) == 0 {
		return false
	}
	e := c.agenda.pop()
	c.now = e.at
	c.ran++
	e.fn()
	return true
}

// runUntil executes events in time order up to and including t.
func (c *clock) runUntil(t int64) {
	for len(c.agenda) > 0 && c.agenda[0].at <= t {
		e := c.agenda.pop()
		c.now = e.at
		c.ran++
		e.fn()
	}
	c.now = max(c.now, t)
}
