package nemesis

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// Action is one nemesis step, recorded in the history as it happens.
type Action struct {
	// F is the operation: partition, heal, kill, start, pause, resume;
	// degrade, restore-links, lose-unfsynced, corrupt (extra.go); remove,
	// add, replace, transfer-leader (membership.go).
	F string `json:"f"`
	// Name says which fault this is, e.g. "halves", "isolate-leader";
	// for corrupt, the corruption (TornTail, FlipByte).
	Name   string   `json:"name,omitempty"`
	Nodes  []string `json:"nodes,omitempty"`
	Grudge Grudge   `json:"grudge,omitempty"`
	// Link is the link fault of a degrade.
	Link *LinkFault `json:"link,omitempty"`
}

// Describe renders the action for the history's value field.
func (a Action) Describe() json.RawMessage {
	b, _ := json.Marshal(a) // map keys sort: deterministic
	return b
}

func (a Action) String() string {
	switch {
	case a.Grudge != nil:
		return fmt.Sprintf("%s %s", a.F, a.Name)
	case a.Link != nil && a.Link.Delay > 0 && a.Link.Loss > 0:
		return fmt.Sprintf("%s %s %.0f%% +%v", a.F, a.Name, 100*a.Link.Loss, a.Link.Delay)
	case a.Link != nil && a.Link.Delay > 0:
		return fmt.Sprintf("%s %s +%v", a.F, a.Name, a.Link.Delay)
	case a.Link != nil:
		return fmt.Sprintf("%s %s %.0f%%", a.F, a.Name, 100*a.Link.Loss)
	case a.F == "corrupt":
		return fmt.Sprintf("%s %s %s", a.F, a.Name, strings.Join(a.Nodes, ","))
	case len(a.Nodes) > 0:
		return fmt.Sprintf("%s %s", a.F, strings.Join(a.Nodes, ","))
	}
	return a.F
}

// Kinds are the fault families --nemesis selects from that every
// backend takes.
var Kinds = []string{"partition", "kill", "pause"}

// ExtraKinds are the fault families only some backends take (see
// extra.go): packet loss and latency on links, power failure (losing what
// was not fsynced), a torn write at the tail of a node's log, and a
// flipped byte in an older record of it (which also replaces the node, so
// it needs membership changes too); and membership changes
// (membership.go), which every backend takes but which change the
// cluster's shape, so a run of "all" stays the run it was. "all" does not
// include them: name them.
var ExtraKinds = []string{"loss", "latency", "lose-unfsynced", "torn-tail", "membership", "flip-byte"}

// ParseKinds checks a comma-separated --nemesis value. "none" or "" is
// no faults; "all" is every kind of Kinds.
func ParseKinds(s string) ([]string, error) {
	switch s {
	case "", "none":
		return nil, nil
	case "all":
		return slices.Clone(Kinds), nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k == "all" {
			for _, k := range Kinds {
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			}
			continue
		}
		if !slices.Contains(Kinds, k) && !slices.Contains(ExtraKinds, k) {
			return nil, fmt.Errorf("unknown nemesis %q; known: %s, %s, all, none", k, strings.Join(Kinds, ", "), strings.Join(ExtraKinds, ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Schedule picks faults at random from the selected kinds, each with the
// action that undoes it. It is pure: the caller supplies the randomness
// and the current leader, and decides when to act, in real or virtual
// time.
type Schedule struct {
	kinds []string
	nodes []string
	rng   *rand.Rand
}

// NewSchedule returns a schedule over nodes (at least 3).
func NewSchedule(kinds, nodes []string, rng *rand.Rand) *Schedule {
	nodes = slices.Clone(nodes)
	slices.Sort(nodes)
	return &Schedule{kinds: kinds, nodes: nodes, rng: rng}
}

// Empty reports whether the schedule injects nothing.
func (s *Schedule) Empty() bool { return len(s.kinds) == 0 }

// Next returns the next fault and the actions that recover from it, in
// order: one for most faults, none when the fault is over once applied
// (replace, transfer-leader), two for a flipped byte (the start the node
// must refuse, then its replacement). leader may be "" when none is
// known; leader-aimed faults then pick a random node.
func (s *Schedule) Next(leader string) (fault Action, recovery []Action) {
	if s.Empty() {
		return Action{}, nil
	}
	target := func() string {
		if leader != "" && s.rng.IntN(2) == 0 {
			return leader
		}
		return s.nodes[s.rng.IntN(len(s.nodes))]
	}
	switch kind := s.kinds[s.rng.IntN(len(s.kinds))]; kind {
	case "loss", "latency", "lose-unfsynced", "torn-tail", "flip-byte":
		return s.nextExtra(kind, leader, target)
	case "membership":
		return s.nextMembership(leader, target)
	case "partition":
		name, g := s.partition(leader)
		return Action{F: "partition", Name: name, Grudge: g}, []Action{{F: "heal"}}
	case "kill":
		victims := []string{target()}
		name := "kill-one"
		if s.rng.IntN(3) == 0 {
			// A majority down at once: the cluster must stop answering
			// and then recover every acknowledged write from disk.
			victims = s.pick(len(s.nodes)/2 + 1)
			name = "kill-majority"
		} else if victims[0] == leader {
			name = "kill-leader"
		}
		return Action{F: "kill", Name: name, Nodes: victims}, []Action{{F: "start", Nodes: victims}}
	default: // pause
		v := target()
		name := "pause-one"
		if v == leader {
			name = "pause-leader"
		}
		return Action{F: "pause", Name: name, Nodes: []string{v}}, []Action{{F: "resume", Nodes: []string{v}}}
	}
}

// pick returns n distinct nodes at random, sorted.
func (s *Schedule) pick(n int) []string {
	perm := s.rng.Perm(len(s.nodes))
	out := make([]string, 0, n)
	for _, i := range perm[:n] {
		out = append(out, s.nodes[i])
	}
	slices.Sort(out)
	return out
}

func (s *Schedule) partition(leader string) (string, Grudge) {
	switch s.rng.IntN(4) {
	case 0:
		if leader != "" {
			return "isolate-leader", Isolate(s.nodes, leader)
		}
		return "isolate", Isolate(s.nodes, s.nodes[s.rng.IntN(len(s.nodes))])
	case 1:
		return "majorities-ring", MajoritiesRing(s.shuffled())
	case 2:
		return "bridge", Bridge(s.shuffled())
	}
	nodes := s.shuffled()
	return "halves", Groups([][]string{nodes[:len(nodes)/2], nodes[len(nodes)/2:]})
}

func (s *Schedule) shuffled() []string {
	out := slices.Clone(s.nodes)
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Groups builds the grudge of disjoint groups: each node drops every node
// outside its group.
func Groups(groups [][]string) Grudge {
	g := Grudge{}
	for i, grp := range groups {
		for j, other := range groups {
			if i == j {
				continue
			}
			for _, n := range grp {
				g[n] = append(g[n], other...)
			}
		}
	}
	for n := range g {
		slices.Sort(g[n])
	}
	return g
}

// Isolate cuts one node off from all others.
func Isolate(nodes []string, victim string) Grudge {
	rest := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == victim })
	return Groups([][]string{{victim}, rest})
}

// MajoritiesRing arranges nodes in a ring in which each node hears
// itself and its nearest neighbours, a bare majority, and no two nodes
// hear the same majority (Jepsen's majorities-ring). With an odd number of
// others to hear, the extra one is the clockwise neighbour, so the grudge
// is not symmetric.
func MajoritiesRing(ring []string) Grudge {
	n := len(ring)
	others := n / 2 // a majority, less the node itself
	right, left := (others+1)/2, others/2
	g := Grudge{}
	for i, a := range ring {
		for d := 1; d < n; d++ {
			if d <= right || n-d <= left {
				continue
			}
			g[a] = append(g[a], ring[(i+d)%n])
		}
		slices.Sort(g[a])
	}
	return g
}

// Bridge splits nodes into two halves that cannot hear each other; the
// node in the middle belongs to neither and hears, and is heard by, all.
func Bridge(nodes []string) Grudge {
	mid := len(nodes) / 2
	return Groups([][]string{nodes[:mid], nodes[mid+1:]})
}
