package invariant

import (
	"math/rand/v2"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// entryHash tells apart entries that differ in one bit of their data, in
// their type, or only by trailing zero bytes, and is never 0 (unknown).
func TestEntryHashSeparates(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 70 {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		e := raft.Entry{Type: raft.EntryNormal, Data: data}
		h := entryHash(e)
		if h == 0 {
			t.Fatalf("len %d: hash 0", n)
		}
		seen := map[uint64]string{h: "original"}
		note := func(what string, h2 uint64) {
			if prev, dup := seen[h2]; dup {
				t.Fatalf("len %d: %s hashes like %s", n, what, prev)
			}
			seen[h2] = what
		}
		for i := range data {
			for bit := range 8 {
				flipped := append([]byte(nil), data...)
				flipped[i] ^= 1 << bit
				note("a flipped bit", entryHash(raft.Entry{Type: e.Type, Data: flipped}))
			}
		}
		note("a trailing zero", entryHash(raft.Entry{Type: e.Type, Data: append(append([]byte(nil), data...), 0)}))
		note("another type", entryHash(raft.Entry{Type: raft.EntryNoop, Data: data}))
	}
}
