package invariant_test

import (
	"fmt"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/raft/invariant"
)

// A driver observes each node after every step, once the Ready is
// carried out, and reports every message sent.
func Example() {
	rn, err := raft.NewRawNode(raft.Config{ID: "n1", Peers: []raft.NodeID{"n1"}, ElectionTick: 10, HeartbeatTick: 1})
	if err != nil {
		panic(err)
	}
	chk := invariant.New("n1")
	step := func() error {
		for rn.HasReady() {
			rd := rn.Ready()
			// ... persist rd.HardState and rd.Entries, send rd.Messages ...
			for _, m := range rd.Messages {
				if err := chk.Sent(m); err != nil {
					return err
				}
			}
			for _, e := range rd.CommittedEntries {
				if err := chk.Applied("n1", e); err != nil {
					return err
				}
			}
			rn.Advance()
			if err := chk.Observe("n1", rn); err != nil {
				return err
			}
		}
		return nil
	}
	rn.Campaign()
	if err := step(); err != nil {
		panic(err)
	}
	if _, _, err := rn.Propose([]byte("x")); err != nil {
		panic(err)
	}
	if err := step(); err != nil {
		panic(err)
	}
	fmt.Println("known committed:", chk.Committed(), "terms with a leader:", chk.Leaders())
	// Output: known committed: 2 terms with a leader: 1
}
