package raft_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/raftcheck/raftcheck/node/raft"
)

// fmtMsg prints a message in one line, with only the fields its type uses.
func fmtMsg(m raft.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s->%s %s term=%d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case raft.MsgApp:
		fmt.Fprintf(&b, " prev=%d@%d entries=%s commit=%d", m.Index, m.LogTerm, fmtEntries(m.Entries), m.Commit)
	case raft.MsgAppResp:
		if m.Reject {
			fmt.Fprintf(&b, " reject=%d hint=%d@%d", m.Index, m.RejectHint, m.LogTerm)
		} else {
			fmt.Fprintf(&b, " index=%d", m.Index)
		}
	case raft.MsgVote, raft.MsgPreVote:
		fmt.Fprintf(&b, " last=%d@%d", m.Index, m.LogTerm)
	case raft.MsgSnap:
		fmt.Fprintf(&b, " snap=%d@%d", m.Snapshot.Meta.Index, m.Snapshot.Meta.Term)
	case raft.MsgVoteResp, raft.MsgPreVoteResp:
		if m.Reject {
			b.WriteString(" reject")
		}
	case raft.MsgHeartbeat:
		fmt.Fprintf(&b, " commit=%d", m.Commit)
	case raft.MsgProp:
		fmt.Fprintf(&b, " entries=%s", fmtEntries(m.Entries))
	case raft.MsgReadIndexResp:
		fmt.Fprintf(&b, " index=%d", m.Index)
	}
	if len(m.Context) > 0 {
		if len(m.Context) == 8 && (m.Type == raft.MsgHeartbeat || m.Type == raft.MsgHeartbeatResp) {
			fmt.Fprintf(&b, " round=%d", binary.BigEndian.Uint64(m.Context))
		} else {
			fmt.Fprintf(&b, " ctx=%s", m.Context)
		}
	}
	return b.String()
}

// fmtEntries prints entries as index@term, with the data of normal ones.
func fmtEntries(es []raft.Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%d@%d", e.Index, e.Term)
		switch e.Type {
		case raft.EntryNormal:
			parts[i] += ":" + string(e.Data)
		case raft.EntryConfChange:
			if cc, err := raft.UnmarshalConfChange(e.Data); err == nil {
				parts[i] += fmt.Sprintf(":%s(%s)", cc.Type, cc.Node)
			}
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// fmtNode prints a node's role, term, vote, leader, commit and log.
func (e *env) fmtNode(id raft.NodeID) string {
	tn := e.nodes[id]
	if tn.down {
		d := tn.disk
		return fmt.Sprintf("%s down: disk term=%d vote=%s commit=%d%s", id, d.hs.Term, orDash(d.hs.Vote), d.hs.Commit, fmtLog(d.snap.Meta, d.ents))
	}
	st := tn.rn.Status()
	var ents []raft.Entry
	for i := st.FirstIndex; i <= st.LastIndex; i++ {
		ent, _ := tn.rn.LogEntry(i)
		ents = append(ents, ent)
	}
	t, _ := tn.rn.LogTerm(st.FirstIndex - 1)
	conf := ""
	if len(st.Conf.Learners) > 0 || !slices.Equal(st.Conf.Voters, e.boot) {
		conf = " conf=" + fmtConf(st.Conf)
	}
	if st.Transferee != raft.None {
		conf += " transferee=" + string(st.Transferee)
	}
	return fmt.Sprintf("%s %s term=%d vote=%s lead=%s commit=%d applied=%d%s%s", id, st.State, st.Term,
		orDash(st.Vote), orDash(st.Lead), st.Commit, st.Applied, conf,
		fmtLog(raft.SnapshotMeta{Index: st.FirstIndex - 1, Term: t}, ents))
}

// fmtConf prints a configuration as voters, then learners marked ~.
func fmtConf(cs raft.ConfState) string {
	parts := make([]string, 0, len(cs.Voters)+len(cs.Learners))
	for _, v := range cs.Voters {
		parts = append(parts, string(v))
	}
	for _, l := range cs.Learners {
		parts = append(parts, "~"+string(l))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// fmtLog prints a log as the term of each entry, after the snapshot.
func fmtLog(snap raft.SnapshotMeta, ents []raft.Entry) string {
	var b strings.Builder
	if snap.Index > 0 {
		fmt.Fprintf(&b, " snap=%d@%d", snap.Index, snap.Term)
	}
	b.WriteString(" log=[")
	for i, e := range ents {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", e.Term)
	}
	b.WriteString("]")
	return b.String()
}

func orDash(id raft.NodeID) string {
	if id == raft.None {
		return "-"
	}
	return string(id)
}
