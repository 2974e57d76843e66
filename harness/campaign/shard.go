package campaign

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Sharding: a campaign too long for one machine runs as N shards (a CI
// matrix), each `raftcheck campaign --shard I/N` with the same spec and
// campaign seed, and `raftcheck campaign merge` puts their results back
// together as one campaign. The plan is the same in every shard (the
// seeds left out of the spec come from the campaign seed, not from each
// process's randomness), and run k of the plan belongs to shard k%N+1:
// the repetitions of an entry, and consecutive docker runs, spread over
// the shards; a within: search is one run, so it runs in one shard.

// MaxShards bounds N in --shard I/N.
const MaxShards = 1000

// Shard is the slice of a campaign one process runs: the Index-th (from
// 1) of Count.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
	// CampaignRuns is how many runs the whole campaign plans.
	CampaignRuns int `json:"campaign_runs"`
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard reads --shard I/N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	a, aerr := strconv.Atoi(strings.TrimSpace(i))
	b, berr := strconv.Atoi(strings.TrimSpace(n))
	if !ok || aerr != nil || berr != nil {
		return Shard{}, fmt.Errorf("--shard %q: want I/N, the I-th of N shards (e.g. 3/8)", s)
	}
	if b < 1 || b > MaxShards {
		return Shard{}, fmt.Errorf("--shard %q: N must be 1 to %d", s, MaxShards)
	}
	if a < 1 || a > b {
		return Shard{}, fmt.Errorf("--shard %q: I must be 1 to %d (shards count from 1)", s, b)
	}
	return Shard{Index: a, Count: b}, nil
}

// Select returns the runs of a planned campaign that belong to shard sh,
// with sh.CampaignRuns set to the campaign's size.
func Select(runs []Run, sh Shard) ([]Run, Shard) {
	sh.CampaignRuns = len(runs)
	var mine []Run
	for _, r := range runs {
		if r.Index%sh.Count == sh.Index-1 {
			mine = append(mine, r)
		}
	}
	return mine, sh
}

// NewCampaignSeed draws a campaign seed, short enough to type.
func NewCampaignSeed() uint64 { return rand.Uint64() >> 12 }

// EntrySeed is the seed of the index-th entry of a campaign whose spec
// gives it none: a function of the campaign seed and the entry alone, so
// every shard (and a rerun with --campaign-seed) agrees. The result fits
// in 52 bits, like a seed chosen by raftcheck test, so seed+repeat never
// overflows.
func EntrySeed(campaign uint64, index int) uint64 {
	// splitmix64's finalizer over the pair: neighbouring entries and
	// neighbouring campaign seeds get unrelated seeds.
	z := campaign*0x9e3779b97f4a7c15 + uint64(index+1)*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return max(z>>12, 1) // 0 is no seed to a within: search
}
