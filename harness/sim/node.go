package sim

import (
	"github.com/raftcheck/raftcheck/harness"

	"fmt"
	"log/slog"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage/memstore"
)

// simNode is one slot: the replica it runs, with its disk and process
// state. The slot's name and index are fixed; the member ID changes when
// a new member takes the slot (membership.go).
type simNode struct {
	name   string // the slot, as the harness names nodes
	slot   int    // its index in Simulator.ids and the network's tables
	id     raft.NodeID
	s      *Simulator
	rep    *replica.Replica
	disk   *memstore.Store
	up     bool
	paused bool
	boots  int
	// backlog holds what arrived while paused: the kernel buffers it and
	// the process handles it once thawed.
	backlog []func()
	// failed records a node that stopped itself on an internal error.
	failed error
	leader bool
	// electedAt is the commit index when the node last became leader;
	// committed records that it has committed since.
	electedAt uint64
	committed bool
	lastIndex uint64
	// writeDoneAt is when the last write handed to the disk completes.
	writeDoneAt int64
	// incarnation counts the members the slot hosted after its first;
	// removed is set while it hosts none (membership.go).
	incarnation int
	removed     bool
}

// fsyncTime is the virtual time a write that asks for an fsync takes.
const fsyncTime = int64(100 * time.Microsecond)

func (n *simNode) boot() error {
	n.boots++
	hs, snap, ents := n.disk.Durable()
	rng := harness.Stream(n.s.tc.Seed, fmt.Sprintf("node/%s/boot/%d", n.id, n.boots))
	peers, join := n.peersFor()
	rep, err := replica.New(replica.Config{
		Raft: raft.Config{ID: n.id, Peers: peers, Join: join, ElectionTick: n.s.electionTick,
			HeartbeatTick: n.s.heartbeatTick, Rand: rng, HardState: hs, Snapshot: snap, Entries: ents,
			MaxSizePerMsg: n.s.knobs.MaxAppendBytes, MaxInflight: n.s.knobs.MaxInflight,
			Unsafe: n.s.rUnsafe},
		Storage: n.disk, Writer: n, Sender: n, SnapshotEvery: n.s.knobs.SnapshotEvery,
		RequestTimeout: n.s.requestTicks, RequestIDBase: rng.Uint64() >> 8 << 8,
		Unsafe: n.s.unsafe, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("sim: boot %s: %w", n.id, err)
	}
	n.rep, n.up, n.paused, n.backlog, n.leader = rep, true, false, nil, false
	n.writeDoneAt = 0
	return nil
}

// Write implements replica.Writer: the disk takes the batch after the
// writes before it, plus fsyncTime if it syncs; the process hears of it
// as an event. A crash meanwhile loses it, as unsynced data is lost.
func (n *simNode) Write(w replica.Write) {
	now := n.s.clock.now
	d := int64(0)
	if w.Sync {
		d = fsyncTime
	}
	n.writeDoneAt = max(now+d, n.writeDoneAt)
	boot := n.boots
	n.s.clock.after(n.writeDoneAt-now, func() {
		if n.boots != boot || !n.up {
			return
		}
		if err := n.persist(w); err != nil {
			n.failed = err
			n.crash()
			return
		}
		n.whenRunning(func() {
			n.Send(w.Messages)
			if err := n.rep.Durable(w.Seq); err != nil {
				n.failed = err
				n.crash()
				return
			}
			n.process()
		})
	})
}

func (n *simNode) persist(w replica.Write) error {
	if !w.Snapshot.IsEmpty() {
		if err := n.disk.SaveSnapshot(w.Snapshot); err != nil {
			return err
		}
	}
	if err := n.disk.Append(w.HardState, w.Entries); err != nil {
		return err
	}
	if w.Sync {
		return n.disk.Sync()
	}
	return nil
}

// Send implements replica.Sender.
func (n *simNode) Send(msgs []raft.Message) {
	for _, m := range msgs {
		to := n.s.node(m.To)
		if to == nil {
			continue
		}
		if n.s.violation == nil {
			n.s.checked(n.s.chk.Sent(m))
		}
		if m.Type == raft.MsgVoteResp && !m.Reject {
			n.s.react.votedFor(n.name)
		}
		n.s.transmit(n, m, to)
	}
}

// receive delivers *m, which belongs to the network: what keeps it for
// later keeps a copy.
func (n *simNode) receive(m *raft.Message) {
	if n.up && !n.paused { // the common case, without a closure to allocate
		n.rep.Step(*m)
		n.process()
		return
	}
	later := *m
	n.whenRunning(func() {
		n.rep.Step(later)
		n.process()
	})
}

// whenRunning runs fn now if the process runs, later if it is paused,
// and never if it is down (what was in flight to it is lost).
func (n *simNode) whenRunning(fn func()) {
	switch {
	case !n.up:
	case n.paused:
		n.backlog = append(n.backlog, fn)
	default:
		fn()
	}
}

func (n *simNode) tick() {
	if n.up && !n.paused {
		n.rep.Tick()
		n.process()
	}
}

func (n *simNode) process() {
	if err := n.rep.Process(); err != nil {
		// The node stops itself, as raftnode exits on such an error.
		n.failed = err
		n.crash()
		return
	}
	if n.s.violation == nil { // from the first violation on, the rest is its consequences
		n.s.checked(n.s.chk.Observe(n.id, n.rep.RaftView()))
	}
	st := n.rep.Status()
	if leader := st.Role == "leader"; leader != n.leader {
		n.leader = leader
		if leader {
			n.electedAt, n.committed = st.Commit, false
			n.s.react.elected(n.name)
			if n.s.confStrike != nil {
				n.s.confStrike.elected(n.name)
			}
		}
	}
	if n.leader && st.LastIndex > n.lastIndex && n.s.fig8 != nil {
		n.s.fig8.appended(n.name)
	}
	n.lastIndex = st.LastIndex
	if n.leader && !n.committed && st.Commit > n.electedAt {
		n.committed = true
		n.s.react.firstCommit(n.name)
		if n.s.fig8 != nil {
			n.s.fig8.firstCommit(n.name)
		}
	}
}

func (n *simNode) crash() {
	n.up, n.paused, n.backlog, n.rep = false, false, nil, nil
	n.disk.Crash()
}

func (n *simNode) resume() {
	n.paused = false
	backlog := n.backlog
	n.backlog = nil
	for _, fn := range backlog {
		if !n.up || n.paused {
			return
		}
		fn()
	}
}

// status is the node's own view, if it is running.
func (n *simNode) status() (harness.NodeStatus, bool) {
	if !n.up || n.paused {
		return harness.NodeStatus{}, false
	}
	st := n.rep.Status()
	return harness.NodeStatus{Role: st.Role, Term: st.Term, Leader: n.s.slotOf(st.Leader), Commit: st.Commit}, true
}
