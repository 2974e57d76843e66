package workload

import (
	"fmt"
	"math/rand/v2"

	"github.com/raftcheck/raftcheck/checker"
)

// Op is one register operation to perform.
type Op struct {
	F        string // checker.Read, checker.Write or checker.CAS
	Key      string
	Value    int64 // write
	From, To int64 // cas
}

// GeneratorConfig shapes the register workload.
type GeneratorConfig struct {
	// OpsPerKey retires a key after this many operations, as Jepsen's
	// independent keys do: checking is exponential in the concurrency
	// within a key, so keys stay short. Default 200.
	OpsPerKey int
	// ActiveKeys is how many keys are in use at once. Default 4.
	ActiveKeys int
	// ReadFrac and WriteFrac split operations; the rest are cas.
	// Defaults 0.5 and 0.25.
	ReadFrac, WriteFrac float64
	// Values are drawn from [0, Values): a small range so cas often
	// matches. Default 5.
	Values int
}

func (c *GeneratorConfig) defaults() {
	if c.OpsPerKey <= 0 {
		c.OpsPerKey = 200
	}
	if c.ActiveKeys <= 0 {
		c.ActiveKeys = 4
	}
	if c.ReadFrac == 0 && c.WriteFrac == 0 {
		c.ReadFrac, c.WriteFrac = 0.5, 0.25
	}
	if c.Values <= 0 {
		c.Values = 5
	}
}

// Generator produces register operations from a seeded source.
type Generator struct {
	cfg    GeneratorConfig
	rng    *rand.Rand
	active []string
	used   map[string]int
	next   int
	all    []string
}

// NewGenerator returns a generator drawing from rng.
func NewGenerator(cfg GeneratorConfig, rng *rand.Rand) *Generator {
	cfg.defaults()
	g := &Generator{cfg: cfg, rng: rng, used: map[string]int{}}
	for range cfg.ActiveKeys {
		g.active = append(g.active, g.newKey())
	}
	return g
}

func (g *Generator) newKey() string {
	k := fmt.Sprintf("k%d", g.next)
	g.next++
	g.all = append(g.all, k)
	return k
}

// Next returns the next operation.
func (g *Generator) Next() Op {
	i := g.rng.IntN(len(g.active))
	key := g.active[i]
	g.used[key]++
	if g.used[key] >= g.cfg.OpsPerKey {
		g.active[i] = g.newKey()
	}
	v := func() int64 { return int64(g.rng.IntN(g.cfg.Values)) }
	switch p := g.rng.Float64(); {
	case p < g.cfg.ReadFrac:
		return Op{F: checker.Read, Key: key}
	case p < g.cfg.ReadFrac+g.cfg.WriteFrac:
		return Op{F: checker.Write, Key: key, Value: v()}
	default:
		return Op{F: checker.CAS, Key: key, From: v(), To: v()}
	}
}

// Keys returns every key handed out so far, in order of first use.
func (g *Generator) Keys() []string { return append([]string(nil), g.all...) }
