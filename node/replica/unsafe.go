package replica

import (
	"fmt"
	"strings"

	"github.com/raftcheck/raftcheck/node/raft"
)

// UnsafeModes names the deliberate bugs of ARCHITECTURE.md, each of which
// switches off one safety mechanism so the harness can prove it notices.
func UnsafeModes() []string {
	return []string{"stale-reads", "commit-prior-term", "vote-any-log", "forget-vote", "ack-before-persist", "no-dedup", "no-fsync", "config-before-noop"}
}

// ParseUnsafe turns a comma-separated list of mode names into the
// switches of the replica and of the Raft core. "" is no mode.
func ParseUnsafe(names string) (Unsafe, raft.Unsafe, error) {
	var u Unsafe
	var ru raft.Unsafe
	if names == "" {
		return u, ru, nil
	}
	for _, mode := range strings.Split(names, ",") {
		switch mode {
		case "stale-reads":
			u.StaleReads = true
		case "commit-prior-term":
			ru.CommitPriorTerm = true
		case "vote-any-log":
			ru.VoteAnyLog = true
		case "forget-vote":
			u.ForgetVote = true
		case "ack-before-persist":
			u.AckBeforePersist = true
		case "no-dedup":
			u.NoDedup = true
		case "no-fsync":
			u.NoFsync = true
		case "config-before-noop":
			ru.ConfigBeforeNoop = true
		default:
			return u, ru, fmt.Errorf("unknown unsafe mode %q; known: %s", mode, strings.Join(UnsafeModes(), ", "))
		}
	}
	return u, ru, nil
}
