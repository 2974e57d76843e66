package sim

import (
	"hash/fnv"
	"math/rand/v2"
)

// stream returns the named sub-stream of a run's seed. Each concern
// (network, clients, nemesis, every node's boot) draws from its own, so
// adding a client does not reshuffle the faults.
func stream(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}
