package raft

import "slices"

// syncConf adopts the log's latest configuration after anything that
// changed the log (an append, a truncation, a snapshot).
func (r *raft) syncConf() {
	cs := r.log.conf()
	if cs.Equal(r.conf) && r.members != nil {
		return
	}
	r.conf = cs.clone()
	r.members = slices.Concat(cs.Voters, cs.Learners)
	slices.Sort(r.members)
	if r.transferee != None && !r.conf.IsVoter(r.transferee) {
		r.transferee = None
	}
	if r.state != StateLeader {
		return
	}
	// The leader tracks exactly the members, plus itself. A new member
	// starts probing from the end of our log.
	for id := range r.prs {
		if id != r.id && !slices.Contains(r.members, id) {
			delete(r.prs, id)
		}
	}
	for _, id := range r.members {
		if r.prs[id] == nil {
			pr := r.newProgress()
			pr.recentActive = true
			r.prs[id] = pr
			r.appendDue = true
		}
	}
	// A smaller quorum may commit at once.
	if r.maybeCommit() {
		r.appendDue = true
	}
}

// stepDownIfRemoved ends the leadership of a leader that is no longer a
// voter once the change that removed it is committed (thesis §4.2.2):
// until then it led without counting itself, so the new configuration is
// the one that chose what is committed.
func (r *raft) stepDownIfRemoved() {
	if r.state != StateLeader || r.isVoter() || r.log.committed < r.log.lastConfIndex() {
		return
	}
	// Tell the followers the commit first, or they learn of it only from
	// the next leader.
	r.bcastAppend()
	r.becomeFollower(r.term, None)
}

// proposeConfChange appends a single-server change on the leader.
func (r *raft) proposeConfChange(cc ConfChange) (uint64, uint64, error) {
	if r.state != StateLeader {
		return 0, 0, errNotLeader
	}
	if r.transferee != None {
		return 0, 0, errTransferring
	}
	if r.log.lastConfIndex() > r.log.committed {
		return 0, 0, ErrConfChangePending
	}
	if t, _ := r.log.term(r.log.committed); t != r.term && !r.unsafe.ConfigBeforeNoop {
		return 0, 0, ErrNoCommitInTerm
	}
	cs, err := r.conf.Apply(cc)
	if err != nil {
		return 0, 0, err
	}
	index, term := r.appendEntry(Entry{Type: EntryConfChange, Data: marshalConfEntry(cc, cs)})
	r.appendDue = true
	return index, term, nil
}

// transferLeader starts handing leadership to to (thesis §3.10).
func (r *raft) transferLeader(to NodeID) error {
	switch {
	case r.state != StateLeader:
		return ErrNotLeader
	case !r.conf.IsMember(to):
		return ErrUnknownMember
	case !r.conf.IsVoter(to):
		return ErrNotVoter
	case to == r.id:
		return nil // already there
	}
	r.transferee = to
	// The transfer has one election timeout to complete.
	r.electionElapsed = 0
	r.maybeSendTimeoutNow()
	if r.transferee != None {
		r.sendAppend(to, true)
	}
	return nil
}

// maybeSendTimeoutNow tells the transferee to campaign once its log
// matches ours: it then wins the election, being at least as up to date as
// any voter.
func (r *raft) maybeSendTimeoutNow() {
	if r.transferee == None || r.prs[r.transferee] == nil || r.prs[r.transferee].match != r.log.lastIndex() {
		return
	}
	r.send(Message{Type: MsgTimeoutNow, To: r.transferee})
}

// isTransferVote reports whether m is the vote request of a campaign that
// the leader started by MsgTimeoutNow.
func isTransferVote(m Message) bool {
	return m.Type == MsgVote && string(m.Context) == string(transferContext)
}
