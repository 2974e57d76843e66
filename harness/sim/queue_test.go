package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The clock runs events in (time, scheduling order), whatever the
// interleaving of scheduling and running: checked against a sort.
func TestClockOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &clock{}
	type key struct{ at, id int64 }
	var pending, ran []key
	id := int64(0)
	for round := range 2000 {
		for range rng.IntN(6) {
			id++
			k := key{c.now + rng.Int64N(50), id} // many equal times
			pending = append(pending, k)
			c.after(k.at-c.now, func() { ran = append(ran, k) })
		}
		if round%3 == 0 {
			c.runUntil(c.now + rng.Int64N(20))
		} else {
			c.step()
		}
	}
	for c.step() {
	}
	slices.SortFunc(pending, func(a, b key) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return int(a.id - b.id)
	})
	if !slices.Equal(ran, pending) {
		t.Fatalf("ran %d events out of order; first ones %v, want %v", len(ran), ran[:min(10, len(ran))], pending[:min(10, len(pending))])
	}
}

// BenchmarkClock schedules and runs one event per iteration with about a
// thousand pending, as in a busy simulation (client timeouts wait long).
func BenchmarkClock(b *testing.B) {
	c := &clock{}
	rng := rand.New(rand.NewPCG(1, 2))
	fn := func() {}
	for range 1000 {
		c.after(rng.Int64N(1e9), fn)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.after(rng.Int64N(1e9), fn)
		c.step()
	}
}
