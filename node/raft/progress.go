package raft

// progressState is how the leader replicates to one follower.
type progressState uint8

const (
	// probeState: the leader does not know where the follower's log
	// matches; it sends one append at a time and waits for the answer.
	probeState progressState = iota
	// replicateState: the follower is in sync; the leader streams appends
	// optimistically, up to a window of maxInflight unacknowledged ones.
	replicateState
	// snapshotState: the follower needs a snapshot; appends wait for it.
	snapshotState
)

func (s progressState) String() string {
	return [...]string{"probe", "replicate", "snapshot"}[s]
}

// progress is the leader's view of one follower.
type progress struct {
	match, next uint64
	state       progressState
	// probeSent pauses a probing leader until the follower answers.
	probeSent bool
	// inflight holds the last index of each unacknowledged append in
	// replicate state, oldest first.
	inflight    []uint64
	maxInflight int
	// pendingSnapshot is the index of the snapshot being sent and
	// snapshotAge the ticks since; a lost snapshot is retried.
	pendingSnapshot uint64
	snapshotAge     int
	// recentActive records contact within the last election timeout
	// (CheckQuorum).
	recentActive bool
}

func (p *progress) becomeProbe() {
	if p.state == snapshotState {
		p.next = max(p.match+1, p.pendingSnapshot+1)
	} else {
		p.next = p.match + 1
	}
	p.state = probeState
	p.probeSent = false
	p.inflight = p.inflight[:0]
	p.pendingSnapshot = 0
}

func (p *progress) becomeReplicate() {
	p.state = replicateState
	p.next = p.match + 1
	p.probeSent = false
	p.inflight = p.inflight[:0]
}

func (p *progress) becomeSnapshot(index uint64) {
	p.state = snapshotState
	p.pendingSnapshot = index
	p.snapshotAge = 0
	p.inflight = p.inflight[:0]
}

func (p *progress) paused() bool {
	switch p.state {
	case probeState:
		return p.probeSent
	case replicateState:
		return len(p.inflight) >= p.maxInflight
	}
	return true
}

// sentEntries records an append carrying entries up to last.
func (p *progress) sentEntries(n int, last uint64) {
	switch p.state {
	case replicateState:
		if n > 0 {
			p.next = last + 1
			p.inflight = append(p.inflight, last)
		}
	case probeState:
		p.probeSent = true
	}
}

// maybeUpdate records an acknowledgement of index n; it reports whether
// the follower made progress.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if n > p.match {
		p.match = n
		updated = true
		p.probeSent = false
	}
	p.next = max(p.next, n+1)
	// Acknowledged appends leave the window.
	i := 0
	for i < len(p.inflight) && p.inflight[i] <= n {
		i++
	}
	p.inflight = append(p.inflight[:0], p.inflight[i:]...)
	return updated
}

// maybeDecrTo handles a rejection of the append whose previous index was
// rejected; hint is the highest index the follower may share with us.
// It reports false for a stale rejection.
func (p *progress) maybeDecrTo(rejected, hint uint64) bool {
	if p.state == replicateState {
		if rejected <= p.match {
			return false
		}
		p.next = p.match + 1
		return true
	}
	if p.next-1 != rejected {
		return false
	}
	if hint < p.match {
		// The follower no longer has entries it acknowledged: its disk lost
		// them (only a broken disk or an unsafe mode does that). Believe it,
		// or we would probe the same index forever.
		p.match = hint
	}
	p.next = max(min(rejected, hint+1), p.match+1, 1)
	p.probeSent = false
	return true
}
