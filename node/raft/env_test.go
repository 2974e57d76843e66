package raft_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/raft/invariant"
)

// env is an in-memory cluster of raft cores, driven one input at a time
// by the scripted tests (testdata/*.txt) and the randomized test. Every
// node step is followed by its Ready being carried out at once (persist,
// send, apply) and by the shared invariant checker.
type env struct {
	cfg envConfig
	rng *rand.Rand
	// ids names every node ever created, in creation order; boot are the
	// first ones, the bootstrap configuration. Nodes added later join
	// with no configuration (raft.Config.Join) under IDs never used
	// before.
	ids, boot []raft.NodeID
	nodes     map[raft.NodeID]*envNode
	// net holds messages in flight in send order; held ones wait aside
	// until released.
	net, held []raft.Message
	cut       map[[2]raft.NodeID]bool
	chk       *invariant.Checker
	// err is the first broken invariant (or harness failure); checking
	// stops there, as everything after is a consequence.
	err error
	// steps counts node steps (each followed by a check unless chk is
	// nil, which only benchmarks do).
	steps int
	// changes counts the conf changes and transfers the leaders accepted,
	// by kind, so the randomized test can show it exercised them.
	changes map[string]int
	// out, when set, receives what happens: messages delivered, role
	// changes, reads answered (the scripted tests print it).
	out *strings.Builder
}

type envConfig struct {
	electionTick, heartbeatTick int
	preVote, checkQuorum        bool
	maxMsgSize, maxInflight     int
	unsafe                      raft.Unsafe
	// forgetVote: a restarted node has lost its vote (the unsafe mode).
	forgetVote bool
	// loseTail: a crash loses the last entries persisted, as when a node
	// acknowledges before its write is durable (ack-before-persist).
	loseTail int
}

func defaultConfig() envConfig {
	return envConfig{electionTick: 10, heartbeatTick: 1, preVote: true, checkQuorum: true, maxMsgSize: 64, maxInflight: 4}
}

// envNode is a core with the disk it persisted to (exactly what survives
// a crash) and the entries its state machine applied.
type envNode struct {
	id      raft.NodeID
	rn      *raft.RawNode
	disk    memDisk
	applied []raft.Entry // applied[i] is index i+1; a snapshot fills a prefix with placeholders
	down    bool
	join    bool
	soft    raft.SoftState
	term    uint64
}

type memDisk struct {
	hs   raft.HardState
	snap raft.Snapshot
	ents []raft.Entry
}

func (d *memDisk) save(rd raft.Ready) {
	if !rd.Snapshot.IsEmpty() {
		d.snap = rd.Snapshot
		d.ents = nil
	}
	if !rd.HardState.IsEmpty() {
		d.hs = rd.HardState
	}
	for _, e := range rd.Entries {
		d.ents = append(d.ents[:e.Index-d.snap.Meta.Index-1], e)
	}
}

func newEnv(n int, cfg envConfig, seed uint64) *env {
	e := &env{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e37)), nodes: map[raft.NodeID]*envNode{},
		cut: map[[2]raft.NodeID]bool{}}
	for i := 1; i <= n; i++ {
		e.ids = append(e.ids, raft.NodeID(fmt.Sprintf("n%d", i)))
	}
	e.boot = slices.Clone(e.ids)
	e.chk = invariant.New(e.ids...)
	for _, id := range e.ids {
		e.nodes[id] = &envNode{id: id}
		e.start(id)
	}
	return e
}

func (e *env) logf(format string, args ...any) {
	if e.out != nil {
		fmt.Fprintf(e.out, format+"\n", args...)
	}
}

func (e *env) fail(err error) {
	if e.err == nil {
		e.err = err
		e.logf("VIOLATION: %v", err)
	}
}

func (e *env) start(id raft.NodeID) {
	tn := e.nodes[id]
	d := &tn.disk
	rn, err := raft.NewRawNode(raft.Config{ID: id, Peers: e.boot, Join: tn.join,
		ElectionTick: e.cfg.electionTick, HeartbeatTick: e.cfg.heartbeatTick,
		Rand:           rand.New(rand.NewPCG(e.rng.Uint64(), 1)),
		DisablePreVote: !e.cfg.preVote, DisableCheckQuorum: !e.cfg.checkQuorum,
		HardState: d.hs, Snapshot: d.snap, Entries: slices.Clone(d.ents), Applied: d.snap.Meta.Index,
		MaxSizePerMsg: e.cfg.maxMsgSize, MaxInflight: e.cfg.maxInflight, Unsafe: e.cfg.unsafe})
	if err != nil {
		e.fail(fmt.Errorf("start %s: %w", id, err))
		return
	}
	tn.rn, tn.down = rn, false
	tn.soft, tn.term = raft.SoftState{State: raft.StateFollower}, d.hs.Term
	// The state machine restarts from the snapshot image.
	tn.applied = tn.applied[:min(uint64(len(tn.applied)), d.snap.Meta.Index)]
	e.observe(id)
}

// addNode creates a node that joins with an empty log and no
// configuration; a leader adds it with a conf change.
func (e *env) addNode(id raft.NodeID) {
	e.ids = append(e.ids, id)
	e.nodes[id] = &envNode{id: id, join: true}
	e.start(id)
}

// confChange proposes a membership change on node id.
func (e *env) confChange(id raft.NodeID, cc raft.ConfChange) error {
	tn := e.nodes[id]
	if tn.down {
		return fmt.Errorf("%s is down", id)
	}
	_, _, err := tn.rn.ProposeConfChange(cc)
	e.process(id)
	if err == nil {
		e.count(cc.Type.String())
	}
	return err
}

// transfer asks node id to hand its leadership to to.
func (e *env) transfer(id, to raft.NodeID) error {
	tn := e.nodes[id]
	if tn.down {
		return fmt.Errorf("%s is down", id)
	}
	err := tn.rn.TransferLeader(to)
	e.process(id)
	if err == nil && to != id {
		e.count("transfer")
	}
	return err
}

func (e *env) count(kind string) {
	if e.changes == nil {
		e.changes = map[string]int{}
	}
	e.changes[kind]++
}

// crash stops a node; what it had not persisted is gone. loseTail drops
// that many of the last entries from its disk too, as a disk that
// acknowledged writes it never made would.
func (e *env) crash(id raft.NodeID, loseTail int) {
	tn := e.nodes[id]
	tn.down = true
	if e.cfg.forgetVote {
		tn.disk.hs.Vote = raft.None
	}
	d := &tn.disk
	loseTail = max(loseTail, e.cfg.loseTail)
	d.ents = d.ents[:len(d.ents)-min(loseTail, len(d.ents))]
	if last := d.snap.Meta.Index + uint64(len(d.ents)); d.hs.Commit > last {
		d.hs.Commit = last
	}
}

func (e *env) observe(id raft.NodeID) {
	e.steps++
	if e.err == nil && e.chk != nil {
		if err := e.chk.Observe(id, e.nodes[id].rn); err != nil {
			e.fail(err)
		}
	}
}

// process carries out every pending Ready of a node and checks the
// invariants after each.
func (e *env) process(id raft.NodeID) {
	tn := e.nodes[id]
	for !tn.down && tn.rn.HasReady() {
		rd := tn.rn.Ready()
		tn.disk.save(rd)
		e.net = append(e.net, rd.Messages...)
		for _, m := range rd.Messages {
			if e.err == nil && e.chk != nil {
				if err := e.chk.Sent(m); err != nil {
					e.fail(err)
				}
			}
		}
		if !rd.Snapshot.IsEmpty() {
			tn.applied = make([]raft.Entry, rd.Snapshot.Meta.Index)
		}
		for _, ent := range rd.CommittedEntries {
			if uint64(len(tn.applied))+1 != ent.Index {
				e.fail(fmt.Errorf("%s applies %d after %d", id, ent.Index, len(tn.applied)))
				return
			}
			tn.applied = append(tn.applied, ent)
			if e.err == nil && e.chk != nil {
				if err := e.chk.Applied(id, ent); err != nil {
					e.fail(err)
				}
			}
		}
		for _, rs := range rd.ReadStates {
			e.logf("%s read %s at index %d", id, rs.RequestCtx, rs.Index)
			if e.err == nil && e.chk != nil {
				if err := e.chk.ReadServed(id, rs.RequestCtx, rs.Index); err != nil {
					e.fail(err)
				}
			}
		}
		for _, ctx := range rd.DroppedReads {
			e.logf("%s read %s dropped", id, ctx)
			if e.chk != nil {
				e.chk.ReadAbandoned(id, ctx)
			}
		}
		if rd.SoftState != nil || rd.HardState.Term != 0 {
			st := tn.rn.Status()
			if st.State != tn.soft.State || st.Term != tn.term {
				e.logf("%s is %s at term %d", id, st.State, st.Term)
			}
			tn.soft, tn.term = raft.SoftState{Lead: st.Lead, State: st.State}, st.Term
		}
		tn.rn.Advance()
		if err := tn.rn.Err(); err != nil {
			e.fail(fmt.Errorf("%s stopped: %w", id, err))
			tn.down = true
		}
		e.observe(id)
	}
}

// deliver steps m on its recipient, unless it is down or cut off.
func (e *env) deliver(m raft.Message) {
	tn := e.nodes[m.To]
	note := ""
	switch {
	case tn == nil || tn.down:
		note = fmt.Sprintf(" (%s down)", m.To)
	case e.cut[[2]raft.NodeID{m.From, m.To}]:
		note = " (cut)"
	}
	if e.out != nil {
		e.logf("%s%s", fmtMsg(m), note)
	}
	if note != "" {
		return
	}
	if err := tn.rn.Step(m); err != nil {
		e.fail(fmt.Errorf("step %s: %w", fmtMsg(m), err))
		return
	}
	e.process(m.To)
}

// stabilize delivers messages, oldest first, until the network is quiet.
func (e *env) stabilize() error {
	for i := 0; len(e.net) > 0; i++ {
		if i > 100000 {
			return errors.New("network does not go quiet")
		}
		m := e.net[0]
		e.net = e.net[1:]
		e.deliver(m)
	}
	return nil
}

func (e *env) tick(id raft.NodeID) {
	if tn := e.nodes[id]; !tn.down {
		tn.rn.Tick()
		e.process(id)
	}
}

func (e *env) propose(id raft.NodeID, data string) {
	if tn := e.nodes[id]; !tn.down {
		if _, _, err := tn.rn.Propose([]byte(data)); err != nil {
			e.logf("%s: %v", id, err)
		}
		e.process(id)
	}
}

func (e *env) readIndex(id raft.NodeID, ctx string) {
	if tn := e.nodes[id]; !tn.down {
		if e.chk != nil {
			e.chk.ReadStarted(id, []byte(ctx))
		}
		tn.rn.ReadIndex([]byte(ctx))
		e.process(id)
	}
}

// compact snapshots a node's applied state and drops its log up to there.
func (e *env) compact(id raft.NodeID) {
	tn := e.nodes[id]
	st := tn.rn.Status()
	if tn.down || st.Applied <= tn.disk.snap.Meta.Index {
		return
	}
	s, err := tn.rn.Compact(st.Applied, []byte(fmt.Sprintf("image@%d", st.Applied)))
	if err != nil {
		e.fail(fmt.Errorf("compact %s: %w", id, err))
		return
	}
	d := &tn.disk
	d.ents = slices.Clone(d.ents[s.Meta.Index-d.snap.Meta.Index:])
	d.snap = s
	e.observe(id)
}

// partition cuts every link between different groups.
func (e *env) partition(groups ...[]raft.NodeID) {
	for i, g := range groups {
		for j, h := range groups {
			if i != j {
				for _, a := range g {
					for _, b := range h {
						e.cut[[2]raft.NodeID{a, b}] = true
					}
				}
			}
		}
	}
}

func (e *env) heal() { clear(e.cut) }

func (e *env) leader() raft.NodeID {
	for _, id := range e.ids {
		if tn := e.nodes[id]; !tn.down && tn.rn.Status().State == raft.StateLeader {
			return id
		}
	}
	return raft.None
}
