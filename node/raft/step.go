package raft

// step handles one message from a peer (or a forwarded local request).
func (r *raft) step(m Message) {
	// Messages from nodes outside our configuration are processed like
	// any (thesis §4.1): a joining or lagging node must accept the
	// leader's appends before its log names the leader, and votes and
	// answers are counted only where a configuration says so.
	if !m.Type.Valid() || m.From == None {
		return
	}
	if !wellFormed(m) {
		return // decodable but not something a correct peer sends
	}
	switch {
	case m.Term == 0:
		// Only MsgProp and MsgReadIndex travel without a term.
		if m.Type != MsgProp && m.Type != MsgReadIndex {
			return
		}
	case m.Term > r.term:
		if (m.Type == MsgVote || m.Type == MsgPreVote) && r.inLease() && !isTransferVote(m) {
			// CheckQuorum: while we hear from a leader, a (pre)candidate
			// cannot depose it; otherwise a node rejoining after a
			// partition would disrupt a healthy cluster. A leadership
			// transfer's vote is the leader's own wish.
			return
		}
		switch {
		case m.Type == MsgPreVote:
			// Pre-votes never change our term.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// Granted pre-votes carry the term we will campaign in.
		case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap || m.Type == MsgTimeoutNow:
			r.becomeFollower(m.Term, m.From)
		default:
			r.becomeFollower(m.Term, None)
		}
	case m.Term < r.term:
		switch m.Type {
		case MsgApp, MsgHeartbeat:
			// A stale leader, perhaps cut off and healed: tell it our term
			// so it steps down. With PreVote it could otherwise never learn
			// it, since we would ignore its votes.
			r.send(Message{Type: MsgAppResp, To: m.From})
		case MsgPreVote:
			r.send(Message{Type: MsgPreVoteResp, To: m.From, Term: r.term, Reject: true})
		}
		return
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		r.handleVote(m)
		return
	case MsgReadIndexResp:
		// Valid whatever our role now: a quorum confirmed the index after
		// the read was requested.
		r.readStates = append(r.readStates, ReadState{Index: m.Index, RequestCtx: m.Context})
		return
	}
	switch r.state {
	case StateLeader:
		r.stepLeader(m)
	case StateCandidate, StatePreCandidate:
		r.stepCandidate(m)
	default:
		r.stepFollower(m)
	}
}

// wellFormed checks the shape the handlers rely on. An append's entries
// follow its previous entry (Figure 2): contiguous from Index+1, with terms
// from LogTerm up to the leader's term, never decreasing. The log code
// indexes by these numbers; a gap or overlap would panic it or splice
// stale entries back into the log. A snapshot (§7) ends at a real entry,
// of a term no later than the leader's, with a well-formed configuration
// (which need not name us: the leader's snapshot may predate our joining,
// whose conf entry follows it in the log).
func wellFormed(m Message) bool {
	switch m.Type {
	case MsgApp:
		prevTerm := m.LogTerm
		for i, e := range m.Entries {
			if e.Index != m.Index+1+uint64(i) || e.Index == 0 || e.Term < prevTerm || e.Term > m.Term {
				return false
			}
			if e.Type == EntryConfChange {
				if _, _, err := UnmarshalConfEntry(e.Data); err != nil {
					return false
				}
			}
			prevTerm = e.Term
		}
	case MsgProp:
		// Configuration changes are proposed on the leader only, through
		// the checks of ProposeConfChange.
		for _, e := range m.Entries {
			if e.Type != EntryNormal {
				return false
			}
		}
	case MsgSnap:
		s := m.Snapshot
		if s == nil || s.Meta.Index == 0 || s.Meta.Term == 0 || s.Meta.Term > m.Term ||
			!s.Meta.Conf.valid() {
			return false
		}
	}
	return true
}

// inLease reports whether we heard from a leader within the election
// timeout (only meaningful with CheckQuorum).
func (r *raft) inLease() bool {
	return r.checkQuorum && r.lead != None && r.electionElapsed < r.electionTick
}

func (r *raft) handleVote(m Message) {
	resp := MsgVoteResp
	if m.Type == MsgPreVote {
		resp = MsgPreVoteResp
	}
	canVote := r.vote == m.From ||
		(r.vote == None && r.lead == None) ||
		(m.Type == MsgPreVote && m.Term > r.term)
	upToDate := r.log.isUpToDate(m.Index, m.LogTerm) || r.unsafe.VoteAnyLog
	if canVote && upToDate {
		// A granted vote carries the request's term: for a pre-vote that
		// is the future term the pre-candidate will campaign in.
		r.send(Message{Type: resp, To: m.From, Term: m.Term})
		if m.Type == MsgVote {
			r.electionElapsed = 0
			r.vote = m.From
		}
		return
	}
	r.send(Message{Type: resp, To: m.From, Term: r.term, Reject: true})
}

func (r *raft) stepLeader(m Message) {
	switch m.Type {
	case MsgProp:
		if len(m.Entries) == 0 {
			return
		}
		if r.transferee != None {
			r.droppedProposals = append(r.droppedProposals, propContexts(m)...)
			return
		}
		r.appendEntry(m.Entries...)
		r.appendDue = true
	case MsgReadIndex:
		r.handleReadIndex(m)
	case MsgAppResp:
		r.handleAppResp(m)
	case MsgHeartbeatResp:
		r.handleHeartbeatResp(m)
	}
}

func (r *raft) stepCandidate(m Message) {
	want := MsgVoteResp
	if r.state == StatePreCandidate {
		want = MsgPreVoteResp
	}
	switch m.Type {
	case MsgProp:
		r.droppedProposals = append(r.droppedProposals, propContexts(m)...)
	case MsgReadIndex:
		r.dropRead(m)
	case MsgApp, MsgHeartbeat, MsgSnap:
		// Someone won this term's election.
		r.becomeFollower(m.Term, m.From)
		r.stepFollower(m)
	case want:
		r.poll(m.From, !m.Reject)
	}
}

func (r *raft) stepFollower(m Message) {
	switch m.Type {
	case MsgProp:
		if r.lead == None || m.From != r.id {
			// Forward only our own proposals, once: a proposal bouncing
			// between followers with stale leaders would loop.
			r.droppedProposals = append(r.droppedProposals, propContexts(m)...)
			return
		}
		m.To = r.lead
		r.send(m)
	case MsgReadIndex:
		if r.lead == None || m.From != r.id {
			r.dropRead(m)
			return
		}
		m.To = r.lead
		r.send(m)
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppend(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.log.commitTo(min(m.Commit, r.log.lastIndex()))
		r.send(Message{Type: MsgHeartbeatResp, To: m.From, Context: m.Context})
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	case MsgTimeoutNow:
		// Our leader hands over: campaign at once, without a
		// pre-election, which the leader's followers would refuse while
		// they hear from it.
		if r.isVoter() {
			r.campaign(false, true)
		}
	}
}

// propContexts identifies dropped proposals for the driver by their data.
func propContexts(m Message) [][]byte {
	out := make([][]byte, 0, len(m.Entries))
	for _, e := range m.Entries {
		out = append(out, e.Data)
	}
	return out
}

func (r *raft) dropRead(m Message) {
	if m.From == r.id {
		r.droppedReads = append(r.droppedReads, m.Context)
	}
}

func (r *raft) handleAppend(m Message) {
	if m.Index < r.log.committed {
		// Everything up to our commit index is settled; tell the leader
		// where we are instead of checking an old prefix.
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
		return
	}
	last, ok, err := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries)
	if err != nil {
		r.err = err
		return
	}
	r.syncConf()
	if ok {
		r.send(Message{Type: MsgAppResp, To: m.From, Index: last})
		return
	}
	hint, hintTerm := r.log.findConflictByTerm(min(m.Index, r.log.lastIndex()), m.LogTerm)
	r.send(Message{Type: MsgAppResp, To: m.From, Index: m.Index, Reject: true, RejectHint: hint, LogTerm: hintTerm})
}

func (r *raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		return
	}
	s := *m.Snapshot
	if s.Meta.Index <= r.log.committed {
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
		return
	}
	if r.log.matchTerm(s.Meta.Index, s.Meta.Term) {
		// We already have the snapshot's last entry: keep our log.
		r.log.commitTo(s.Meta.Index)
		r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.committed})
		return
	}
	r.log.restore(s)
	r.syncConf()
	r.send(Message{Type: MsgAppResp, To: m.From, Index: r.log.lastIndex()})
}

func (r *raft) handleAppResp(m Message) {
	pr := r.prs[m.From]
	if pr == nil {
		return // not (or no longer) a member
	}
	pr.recentActive = true
	if !m.Reject && m.Index > r.log.lastIndex() {
		// A follower acknowledges only what we sent it, and our log never
		// shrinks while we lead: this ack is bogus. Believing it would
		// count the follower toward commits of entries it lacks and park
		// its next index past our log, where every rejection looks stale.
		return
	}
	if m.Reject {
		hint := m.RejectHint
		if m.LogTerm > 0 {
			// Skip every entry of a term the follower does not have.
			hint, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
		}
		if pr.maybeDecrTo(m.Index, hint) {
			if pr.state == replicateState {
				pr.becomeProbe()
			}
			r.sendAppend(m.From, true)
		}
		return
	}
	// A probe confirmed at the match we already knew (an empty log, or
	// an empty append) also ends probing, or the follower stays paused.
	if !pr.maybeUpdate(m.Index) && (pr.state != probeState || pr.match != m.Index) {
		return
	}
	switch {
	case pr.state == probeState:
		pr.becomeReplicate()
	case pr.state == snapshotState && pr.match >= pr.pendingSnapshot:
		pr.becomeProbe()
		pr.becomeReplicate()
	}
	if m.From == r.transferee {
		r.maybeSendTimeoutNow()
	}
	if r.maybeCommit() {
		// Tell everyone the new commit index, once for all the
		// acknowledgements that arrive together.
		r.appendDue = true
	} else if r.state == StateLeader {
		// Keep streaming while the window allows.
		r.sendAppend(m.From, false)
	}
}

func (r *raft) handleHeartbeatResp(m Message) {
	pr := r.prs[m.From]
	if pr == nil {
		return
	}
	pr.recentActive = true
	pr.probeSent = false
	if pr.state == replicateState && len(pr.inflight) >= pr.maxInflight {
		// Appends were lost: free one slot so replication can resume.
		pr.inflight = pr.inflight[1:]
	}
	if pr.match < r.log.lastIndex() {
		r.sendAppend(m.From, true)
	}
	if len(m.Context) > 0 {
		r.ackRead(m.From, m.Context)
	}
}

// maybeCommit advances the commit index to the highest index stored on a
// quorum, provided that entry is of the current term (§5.4.2, Figure 8).
func (r *raft) maybeCommit() bool {
	n := r.voters().committedIndex(func(id NodeID) uint64 { return r.prs[id].match })
	if n <= r.log.committed {
		return false
	}
	if t, _ := r.log.term(n); t != r.term && !r.unsafe.CommitPriorTerm {
		return false
	}
	r.log.commitTo(n)
	r.releasePendingReads()
	r.stepDownIfRemoved()
	return true
}

func (r *raft) bcastAppend() {
	for _, id := range r.members {
		if id != r.id {
			r.sendAppend(id, true)
		}
	}
}

// sendAppend sends the next entries (or a snapshot) to a follower.
func (r *raft) sendAppend(to NodeID, sendIfEmpty bool) {
	pr := r.prs[to]
	if pr.paused() {
		return
	}
	prevIndex := pr.next - 1
	prevTerm, errT := r.log.term(prevIndex)
	ents, errE := r.log.slice(pr.next, r.log.lastIndex()+1, r.maxSizePerMsg)
	if errT != nil || errE != nil {
		// The follower needs entries we compacted: send the snapshot.
		snap := r.log.snapshot
		r.send(Message{Type: MsgSnap, To: to, Snapshot: &snap})
		pr.becomeSnapshot(snap.Meta.Index)
		return
	}
	if len(ents) == 0 && !sendIfEmpty {
		return
	}
	r.send(Message{Type: MsgApp, To: to, Index: prevIndex, LogTerm: prevTerm, Entries: ents,
		Commit: r.log.committed})
	last := prevIndex
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	pr.sentEntries(len(ents), last)
}

func (r *raft) bcastHeartbeat(ctx []byte) {
	for _, id := range r.members {
		if id == r.id {
			continue
		}
		// A follower may lack entries up to our commit index; never tell
		// it to commit what it may not have.
		commit := min(r.prs[id].match, r.log.committed)
		r.send(Message{Type: MsgHeartbeat, To: id, Commit: commit, Context: ctx})
	}
}
