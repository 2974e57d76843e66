package sim

import (
	"github.com/raftcheck/raftcheck/harness"

	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/nemesis"
)

// figure8 drives the cluster, by watching who leads, through the
// situation of Figure 8 of the Raft paper, over and over:
//
//  1. cut the leader L1 off in a minority: it keeps appending its
//     clients' writes, which cannot commit;
//  2. once the majority elects L2, cut L2 off alone at once: it too
//     appends writes nobody else has, in a later term;
//  3. after both have stepped down, let L1's side join the rest (without
//     L2): a leader W with L1's old entries wins and replicates them;
//  4. the instant W first commits, cut W off, and let L2 join the rest.
//
// A correct Raft commits in step 3 only through an entry of W's own
// term, which L2 cannot beat; a leader that commits L1's old entries by
// counting replicas has them overwritten by L2 in step 4.
type figure8 struct {
	s   *Simulator
	rng *rand.Rand
	// step is the stage reached; 0 is idle.
	step       int
	l1, l2, w  string
	minority   []string // L1's side in steps 1 and 2
	majority   []string // the others, L2 among them
	deadline   int64    // abandon the round if a step waits past this
	rounds     int
	poll       int64
	holdRandom int64
}

func newFigure8(s *Simulator) *figure8 {
	return &figure8{s: s, rng: harness.Stream(s.tc.Seed, "figure8"), poll: int64(time.Millisecond),
		holdRandom: int64(s.tc.ElectionTimeout)}
}

// start begins the first round a second from now; each round schedules
// the next until the workload phase ends.
func (f *figure8) start() {
	f.s.clock.schedule(int64(time.Second), f)
}

func (f *figure8) partition(name string, groups ...[]string) {
	f.s.strike(nemesis.Action{F: "partition", Name: name, Grudge: nemesis.Groups(groups)})
}

func (f *figure8) tick() {
	s := f.s
	now := s.clock.now
	if s.ended && f.step == 0 {
		return
	}
	next := f.poll
	switch f.step {
	case 0: // idle: start a round once a leader is known
		f.l1 = s.leader()
		if f.l1 == "" {
			break
		}
		others := slices.DeleteFunc(s.Nodes(), func(n string) bool { return n == f.l1 })
		f.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		quorum := len(s.ids)/2 + 1
		f.minority = append([]string{f.l1}, others[:quorum-2]...)
		f.majority = others[quorum-2:]
		f.partition("figure8-cut-leader", f.minority, f.majority)
		f.step, f.deadline = 1, now+int64(5*time.Second)
		f.rounds++
	case 1, 2: // waiting in appended for the majority's leader
	case 3: // both have stepped down: join L1's side with the rest
		if now < f.deadline {
			break
		}
		// L1 alone of its side joins the rest: a majority whose longest
		// log is L1's, so L1 wins and answers its clients when it commits.
		rest := slices.DeleteFunc(slices.Clone(f.majority), func(n string) bool { return n == f.l2 })
		side := slices.DeleteFunc(slices.Clone(f.minority), func(n string) bool { return n == f.l1 })
		f.partition("figure8-rejoin-first", append([]string{f.l1}, rest...), side, []string{f.l2})
		f.step, f.deadline = 4, now+int64(5*time.Second)
		s.figure8Armed = true // the first commit of the next leader ends step 4
	case 4: // waiting in firstCommit
	case 5: // W is cut off: after L2 had its chance, heal and rest
		if now < f.deadline {
			break
		}
		s.strike(nemesis.Action{F: "heal", Name: "figure8-heal"})
		f.step = 0
		next = int64(time.Second) + f.rng.Int64N(int64(2*time.Second))
	}
	if f.step != 0 && f.step != 5 && f.step != 3 && now > f.deadline {
		// The cluster did not play along (no leader in time): start over.
		s.figure8Armed = false
		s.strike(nemesis.Action{F: "heal", Name: "figure8-abandon"})
		f.step = 0
	}
	s.clock.schedule(next, f)
}

// run is the choreography's poll as an event of its own (a method value
// would be an allocation per poll).
func (f *figure8) run() { f.tick() }

// appended is called when a leader appends to its log. The second leader
// is cut off alone the instant it appends: its entry stays its own.
func (f *figure8) appended(node string) {
	if f.step != 1 || !slices.Contains(f.majority, node) {
		return
	}
	f.l2, f.step = node, 3
	rest := slices.DeleteFunc(slices.Clone(f.majority), func(n string) bool { return n == f.l2 })
	f.s.clock.after(0, func() {
		f.partition("figure8-cut-second-leader", f.minority, []string{f.l2}, rest)
	})
	// Let both leaders step down before step 3.
	hold := 2*int64(f.s.tc.ElectionTimeout) + f.rng.Int64N(f.holdRandom)
	f.deadline = f.s.clock.now + hold
}

// firstCommit is called at the instant a new leader first commits.
func (f *figure8) firstCommit(node string) {
	s := f.s
	if f.step != 4 || !s.figure8Armed {
		return
	}
	s.figure8Armed = false
	f.w = node
	others := slices.DeleteFunc(s.Nodes(), func(n string) bool { return n == f.w })
	// Cut at once: the news of the commit is still on the wire.
	s.clock.after(0, func() {
		f.partition("figure8-cut-committer", []string{f.w}, others)
	})
	f.step = 5
	f.deadline = s.clock.now + 3*int64(s.tc.ElectionTimeout) + f.rng.Int64N(f.holdRandom)
}
