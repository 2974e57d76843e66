package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
)

// NetConfig shapes the simulated network. Every feature whose fields are
// zero is off and draws nothing, so a record made before it existed
// replays as it ran.
type NetConfig struct {
	// Latency of a message is drawn uniformly from [MinLatency,
	// MaxLatency]; a TailFrac of messages take up to TailLatency instead,
	// which also reorders them.
	MinLatency  time.Duration `json:"min_latency_ns"`
	MaxLatency  time.Duration `json:"max_latency_ns"`
	TailFrac    float64       `json:"tail_frac"`
	TailLatency time.Duration `json:"tail_latency_ns"`
	// Loss and Duplicate are per-message probabilities.
	Loss      float64 `json:"loss"`
	Duplicate float64 `json:"duplicate"`

	// Slow-link episodes: each directed link turns slow now and then
	// (gaps of 0..2*SlowEvery, episodes of SlowFor/2..SlowFor), and what
	// it carries meanwhile takes SlowMin..SlowMax, longer than an
	// election timeout. SlowEvery 0: never.
	SlowEvery time.Duration `json:"slow_every_ns"`
	SlowFor   time.Duration `json:"slow_for_ns"`
	SlowMin   time.Duration `json:"slow_min_ns"`
	SlowMax   time.Duration `json:"slow_max_ns"`
	// One-way cut episodes, timed likewise: a directed link drops what it
	// carries while its reverse works (A hears B, B does not hear A).
	OneWayEvery time.Duration `json:"one_way_every_ns"`
	OneWayFor   time.Duration `json:"one_way_for_ns"`
	// HoldFrac of partitions hold what they cut, as TCP buffers and
	// retransmits, instead of dropping it; the heal (or the next
	// partition, if it no longer cuts them) releases the held messages in
	// a burst, in a seeded order, within ReleaseSpread.
	HoldFrac      float64       `json:"hold_frac"`
	ReleaseSpread time.Duration `json:"release_spread_ns"`
	// LateDup of messages are delivered once more LateMin..LateMax after
	// they were sent, when terms have moved on.
	LateDup float64       `json:"late_dup"`
	LateMin time.Duration `json:"late_min_ns"`
	LateMax time.Duration `json:"late_max_ns"`
	// A paused process's messages sent in its last OutboundWindow before
	// the pause, and not yet delivered, wait in its buffers and go out on
	// resume, as SIGSTOP holds a process's unflushed writes. 0: none.
	OutboundWindow time.Duration `json:"outbound_window_ns"`
	// Messages to a process that is down wait in their senders' queues
	// while the senders redial (raftnode's transport backs off 10 ms and
	// up): one that comes back within RedialWindow of a message's arrival
	// still gets it. 0: they are lost.
	RedialWindow time.Duration `json:"redial_window_ns"`
}

func (c NetConfig) validate() error {
	prob := func(p float64) bool { return p >= 0 && p <= 1 }
	if c.MinLatency < 0 || c.MaxLatency < c.MinLatency || c.TailLatency < c.MaxLatency ||
		!prob(c.TailFrac) || !prob(c.Loss) || !prob(c.Duplicate) {
		return fmt.Errorf("sim: network %+v: want 0 <= min <= max <= tail latency and probabilities in [0,1]", c)
	}
	episodes := func(every, span time.Duration) bool { return every == 0 && span == 0 || every > 0 && span > 0 }
	if !episodes(c.SlowEvery, c.SlowFor) || !episodes(c.OneWayEvery, c.OneWayFor) ||
		c.SlowMin < 0 || c.SlowMax < c.SlowMin || (c.SlowEvery > 0 && c.SlowMax == 0) {
		return fmt.Errorf("sim: network %+v: episodes need both a positive mean gap and a positive length (or neither), and 0 <= slow_min <= slow_max, positive when slow links are on", c)
	}
	if !prob(c.HoldFrac) || !prob(c.LateDup) || c.ReleaseSpread < 0 || c.LateMin < 0 || c.LateMax < c.LateMin ||
		(c.LateDup > 0 && c.LateMax == 0) || c.OutboundWindow < 0 || c.RedialWindow < 0 {
		return fmt.Errorf("sim: network %+v: want hold_frac and late_dup in [0,1], 0 <= late_min <= late_max (positive when late_dup is), non-negative release spread, outbound and redial windows", c)
	}
	return nil
}

// DefaultNet is a LAN with occasional slow, lost and duplicated packets;
// Resolve adds the seed's weather (slow links, one-way cuts, holding
// partitions, late duplicates, held outbound traffic).
var DefaultNet = NetConfig{
	MinLatency: 100 * time.Microsecond, MaxLatency: 2 * time.Millisecond,
	TailFrac: 0.01, TailLatency: 50 * time.Millisecond,
	Loss: 0.01, Duplicate: 0.01,
}

// maxHeld bounds what a holding partition keeps, as a socket buffer is
// bounded; past it, cut messages are dropped.
const maxHeld = 20000

type network struct {
	cfg    NetConfig
	rng    *rand.Rand
	clock  *clock
	grudge nemesis.Grudge
	stats  NetStats

	// Set by attach, on first use.
	s *Simulator
	// slow and oneWay are the episodes of each directed link, indexed
	// from*len(ids)+to.
	slow, oneWay []episodes
	// holds says whether the partition in place holds what it cuts; held
	// is what it holds, in the order cut.
	holds               bool
	held                []flight
	partRng, releaseRng *rand.Rand
	lateRng             *rand.Rand
	wxRng               *rand.Rand // latencies of the weather's messages
	outbox              []outbox   // by node index
	redial              [][]flight // by node index: what waits for it to come back
	frozen              int        // nodes whose outbox is frozen
	weatherOff          bool       // set once the workload phase ended
	// degraded is the nemesis's link fault in force (loss, latency), nil
	// if none; linkRng draws its losses, apart from everything else.
	degraded *nemesis.LinkFault
	linkRng  *rand.Rand
	// spare flights to reuse: a run sends tens of thousands of messages,
	// and a flight each was a good part of the garbage it made.
	spare []*flight
}

// NetStats counts what the network did.
type NetStats struct {
	Sent, Delivered, Lost, Cut, Duplicated uint64
	// DegradedLost and DegradedDelayed count the messages the nemesis's
	// link faults (loss, latency) dropped and delayed.
	DegradedLost, DegradedDelayed uint64
	// Slowed messages crossed a slow link; OneWayCut were dropped by a
	// one-way cut.
	Slowed, OneWayCut uint64
	// Held were held by a partition, Released delivered at its end.
	Held, Released uint64
	// LateDuplicated copies were scheduled seconds after the original.
	LateDuplicated uint64
	// OutboundHeld messages of a paused process went out on its resume.
	OutboundHeld uint64
	// Redialed messages reached a restarted process after waiting for it.
	Redialed uint64
}

// flight is one message on its way; it is the event of its arrival.
// Flights are recycled (network.spare) once no arrival of theirs is
// pending: nothing else keeps a pointer to one.
type flight struct {
	net     *network
	pending int // arrivals scheduled and not yet run
	m       raft.Message
	to      *simNode
	from    int   // sender's node index
	link    int   // directed link index
	sentAt  int64 // virtual time
	// arrivedAt is when it found its node down, if it waits for a redial.
	arrivedAt int64
}

// outbox is a paused process's unflushed writes.
type outbox struct {
	frozen bool
	since  int64
	held   []flight
}

// episodes is one directed link's timeline of one kind of weather, drawn
// lazily from its own stream: the timeline depends on the seed and the
// link alone, never on the traffic.
type episodes struct {
	rng        *rand.Rand
	every      int64
	span       int64
	start, end int64
}

// active reports whether an episode is on at now; now never decreases
// between calls (it is the clock's).
func (e *episodes) active(now int64) bool {
	if e.every == 0 {
		return false
	}
	for now >= e.end {
		e.start = e.end + e.rng.Int64N(2*e.every+1)
		e.end = e.start + e.span/2 + e.rng.Int64N(e.span/2+1)
	}
	return now >= e.start
}

// network returns the network, attached to the simulator.
func (s *Simulator) network() *network {
	if s.net.s == nil {
		s.net.attach(s)
	}
	return s.net
}

// attach gives the network its per-link weather and its own streams,
// each named, so that one feature's draws never shift another's.
func (n *network) attach(s *Simulator) {
	n.s = s
	k := len(s.ids)
	n.slow = make([]episodes, k*k)
	n.oneWay = make([]episodes, k*k)
	for i, from := range s.ids {
		for j, to := range s.ids {
			link := fmt.Sprintf("%s>%s", from, to)
			n.slow[i*k+j] = episodes{rng: harness.Stream(s.tc.Seed, "net/slow/"+link),
				every: int64(n.cfg.SlowEvery), span: int64(n.cfg.SlowFor)}
			n.oneWay[i*k+j] = episodes{rng: harness.Stream(s.tc.Seed, "net/one-way/"+link),
				every: int64(n.cfg.OneWayEvery), span: int64(n.cfg.OneWayFor)}
		}
	}
	n.partRng = harness.Stream(s.tc.Seed, "net/partition")
	n.releaseRng = harness.Stream(s.tc.Seed, "net/release")
	n.lateRng = harness.Stream(s.tc.Seed, "net/late")
	n.wxRng = harness.Stream(s.tc.Seed, "net/weather-latency")
	n.linkRng = harness.Stream(s.tc.Seed, "net/link-faults")
	n.outbox = make([]outbox, k)
	n.redial = make([][]flight, k)
}

// transmit sends m from node from to node to.
func (s *Simulator) transmit(from *simNode, m raft.Message, to *simNode) {
	n := s.network()
	i, j := from.slot, to.slot
	f := n.newFlight(flight{m: m, to: to, from: i, link: i*len(s.ids) + j, sentAt: n.clock.now})
	n.send(f)
	n.done(f)
}

// newFlight returns a flight holding a copy of v, with no arrival pending.
func (n *network) newFlight(v flight) *flight {
	var f *flight
	if k := len(n.spare); k > 0 {
		f = n.spare[k-1]
		n.spare = n.spare[:k-1]
	} else {
		f = new(flight)
	}
	*f = v
	f.net, f.pending = n, 0
	return f
}

// done recycles f if no arrival of it is pending.
func (n *network) done(f *flight) {
	if f.pending == 0 {
		*f = flight{} // hold on to no message
		n.spare = append(n.spare, f)
	}
}

func (n *network) latency() int64 { return n.latencyFrom(n.rng) }

// latencyFrom draws a LAN latency from r. The weather draws from its own
// streams, so that it never shifts the draws of the messages it leaves
// alone.
func (n *network) latencyFrom(r *rand.Rand) int64 {
	if r.Float64() < n.cfg.TailFrac {
		return int64(n.cfg.MaxLatency) + r.Int64N(int64(n.cfg.TailLatency-n.cfg.MaxLatency)+1)
	}
	return int64(n.cfg.MinLatency) + r.Int64N(int64(n.cfg.MaxLatency-n.cfg.MinLatency)+1)
}

// delay is the latency of a message on link sent now.
func (n *network) delay(link int) int64 {
	d := n.latency()
	if !n.weatherOff && n.slow[link].active(n.clock.now) {
		n.stats.Slowed++
		d = int64(n.cfg.SlowMin) + n.wxRng.Int64N(int64(n.cfg.SlowMax-n.cfg.SlowMin)+1)
	}
	return d
}

// send carries f to its node, subject to partitions and one-way cuts
// (checked when sent and when it arrives), loss, duplication, latency
// and late duplication.
func (n *network) send(f *flight) {
	n.stats.Sent++
	if n.cut(f) {
		return
	}
	lost := n.rng.Float64() < n.cfg.Loss
	copies := 1
	if !lost && n.rng.Float64() < n.cfg.Duplicate {
		copies = 2
	}
	switch {
	case n.cutOneWay(f):
		return
	case lost:
		n.stats.Lost++
		return
	case copies == 2:
		n.stats.Duplicated++
	}
	var extra int64 // the nemesis's added latency on this link
	if lf := n.degraded; lf != nil && lf.Links.Cuts(string(n.s.ids[f.from]), f.to.name) {
		if lf.Loss > 0 && n.linkRng.Float64() < lf.Loss {
			n.stats.DegradedLost++
			return
		}
		if lf.Delay > 0 {
			n.stats.DegradedDelayed++
			extra = int64(lf.Delay)
		}
	}
	for range copies {
		n.arriveAfter(n.delay(f.link)+extra, f)
	}
	if n.cfg.LateDup > 0 && n.lateRng.Float64() < n.cfg.LateDup {
		n.stats.LateDuplicated++
		late := int64(n.cfg.LateMin) + n.lateRng.Int64N(int64(n.cfg.LateMax-n.cfg.LateMin)+1)
		n.arriveAfter(late, f)
	}
}

// arriveAfter schedules f's arrival d from now. Copies of a message
// share their flight: nothing changes it once it is sent.
func (n *network) arriveAfter(d int64, f *flight) {
	f.pending++
	n.clock.schedule(d, f)
}

// resend schedules the arrival of a message that waited (held by a
// partition, a paused sender, a redial) d from now.
func (n *network) resend(d int64, v flight) { n.arriveAfter(d, n.newFlight(v)) }

// run is f's arrival. Whatever keeps the message past it (held, waiting,
// in a paused node's backlog) keeps a copy.
func (f *flight) run() {
	f.pending--
	f.net.arrive(f)
	f.net.done(f)
}

// arrive hands f to its node, unless its paused sender still holds it,
// or a partition or a one-way cut stands in the way now.
func (n *network) arrive(f *flight) {
	if n.frozen > 0 {
		if ob := &n.outbox[f.from]; ob.frozen && f.sentAt >= ob.since-int64(n.cfg.OutboundWindow) {
			ob.held = append(ob.held, *f)
			n.stats.OutboundHeld++
			return
		}
	}
	if n.cut(f) || n.cutOneWay(f) {
		return
	}
	if f.to.id != f.m.To {
		return // addressed to an earlier member of the slot: it is gone
	}
	if !f.to.up && n.cfg.RedialWindow > 0 {
		to := f.link % len(n.redial)
		q := n.redial[to]
		for len(q) > 0 && q[0].arrivedAt < n.clock.now-int64(n.cfg.RedialWindow) {
			q = q[1:] // its sender gave up on it
		}
		waiting := *f
		waiting.arrivedAt = n.clock.now
		n.redial[to] = append(q, waiting)
		return
	}
	n.stats.Delivered++
	f.to.receive(&f.m)
}

// restarted sends node i what waited for it, in the order it arrived:
// each sender's redial succeeds now.
func (n *network) restarted(i int) {
	q := n.redial[i]
	n.redial[i] = nil
	for _, f := range q {
		if f.arrivedAt < n.clock.now-int64(n.cfg.RedialWindow) {
			continue
		}
		n.stats.Redialed++
		n.resend(n.latencyFrom(n.wxRng), f)
	}
}

// cut reports whether the partition in place cuts f, and holds or drops
// it if so.
func (n *network) cut(f *flight) bool {
	if n.grudge == nil || !n.grudge.Cuts(string(n.s.ids[f.from]), f.to.name) {
		return false
	}
	if n.holds && len(n.held) < maxHeld {
		n.held = append(n.held, *f)
		n.stats.Held++
	} else {
		n.stats.Cut++
	}
	return true
}

func (n *network) cutOneWay(f *flight) bool {
	if n.weatherOff || !n.oneWay[f.link].active(n.clock.now) {
		return false
	}
	n.stats.OneWayCut++
	return true
}

// partition puts g in place (nil: heal), choosing whether it holds or
// drops what it cuts, and releases what the previous one held and g
// does not cut.
func (n *network) partition(g nemesis.Grudge) {
	n.grudge = g
	n.holds = g != nil && n.cfg.HoldFrac > 0 && n.partRng.Float64() < n.cfg.HoldFrac
	held := n.held
	n.held = nil
	if len(held) == 0 {
		return
	}
	n.releaseRng.Shuffle(len(held), func(i, j int) { held[i], held[j] = held[j], held[i] })
	for _, f := range held {
		if g.Cuts(string(n.s.ids[f.from]), f.to.name) {
			if n.holds {
				n.held = append(n.held, f) // still cut: held on
			} else {
				n.stats.Cut++
			}
			continue
		}
		n.stats.Released++
		n.resend(n.releaseRng.Int64N(int64(n.cfg.ReleaseSpread)+1), f)
	}
}

// calm ends the weather: the workload phase is over, and recovery is
// measured on a quiet network.
func (n *network) calm() { n.weatherOff = true }

// pause freezes node i's unflushed writes, if the network models them.
func (n *network) pause(i int) {
	if n.cfg.OutboundWindow == 0 || n.outbox[i].frozen {
		return
	}
	n.outbox[i] = outbox{frozen: true, since: n.clock.now}
	n.frozen++
}

// resume flushes node i's held writes, in the order sent; kill drops
// them with the process.
func (n *network) resume(i int, alive bool) {
	ob := &n.outbox[i]
	if !ob.frozen {
		return
	}
	n.frozen--
	held := ob.held
	*ob = outbox{}
	if !alive {
		return
	}
	for _, f := range held {
		n.resend(n.latencyFrom(n.wxRng), f)
	}
}
