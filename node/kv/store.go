package kv

import "fmt"

// Status is the outcome of applying a Command.
type Status uint8

const (
	// StatusOK: the write was applied, or the cas was applied.
	StatusOK Status = iota + 1
	// StatusCASMismatch: the cas was not applied because the current value
	// differs from From or the key is unset.
	StatusCASMismatch
	// StatusStaleSeq: a retry older than the session's last applied seq. It
	// was applied earlier but its result is gone; the client must treat it
	// as indeterminate.
	StatusStaleSeq
	// StatusInvalid: the command fails Validate and was not applied. Only a
	// proposer that skips Validate can see it.
	StatusInvalid
	// StatusSkipped: the index was not above AppliedIndex, e.g. an entry a
	// restored snapshot already covers. Nothing was done; whether the
	// command took effect is unknown to the store.
	StatusSkipped
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusCASMismatch:
		return "cas-mismatch"
	case StatusStaleSeq:
		return "stale-seq"
	case StatusInvalid:
		return "invalid"
	case StatusSkipped:
		return "skipped"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Result is the answer to an applied Command.
type Result struct {
	Status Status
	// Value is the register's value after the command: the written value,
	// To for a cas that applied, the current value for a cas mismatch.
	Value int64
	// Present reports whether the key has a value (false for a cas
	// mismatch on an unset key).
	Present bool
	// Duplicate reports that the answer came from the session cache: the
	// command was applied once before, not again.
	Duplicate bool
}

// DefaultMaxSessions is the session table bound used when
// Options.MaxSessions is 0.
const DefaultMaxSessions = 100000

// Options configure a Store. Every replica of a cluster must use the same
// options, or their states diverge.
type Options struct {
	// NoDedup disables client sessions (the unsafe mode "no-dedup"): a
	// retried command is applied again.
	NoDedup bool
	// MaxSessions bounds the session table; the session applied least
	// recently (by log index) is evicted first. 0 (or less) means
	// DefaultMaxSessions. A client whose session was evicted loses its
	// duplicate protection, so the bound must exceed the number of clients
	// that can still retry.
	MaxSessions int
}

// session is a client's entry in the session table. Sessions form a list
// ordered by index, oldest first, which is also eviction order: every apply
// uses a larger index than any before it, so moving the session to the tail
// keeps the list sorted without a heap.
type session struct {
	client     string
	seq        uint64 // highest applied seq
	index      uint64 // log index at which seq was applied
	result     Result // the answer to seq, Duplicate false
	prev, next *session
}

// Store is the register map and the session table. It is not safe for
// concurrent use: the replica applies entries from one goroutine.
type Store struct {
	opts     Options
	applied  uint64
	regs     map[string]int64
	sessions map[string]*session
	oldest   *session
	newest   *session
	// addrs maps member IDs to peer addresses learned from membership
	// changes; removed holds every ID ever removed (see ApplyMember).
	addrs   map[string]string
	removed map[string]bool
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	return &Store{
		opts:     opts,
		regs:     make(map[string]int64),
		sessions: make(map[string]*session),
		addrs:    make(map[string]string),
		removed:  make(map[string]bool),
	}
}

// Apply applies the command committed at log index and returns its result.
// Indices must increase (gaps are fine: not every entry is a command); an
// index at or below AppliedIndex is ignored with StatusSkipped, so replaying
// entries a snapshot already covers is harmless.
//
// A (ClientID, Seq) already applied returns the cached Result with
// Duplicate set and changes nothing but the applied index.
func (s *Store) Apply(index uint64, cmd Command) Result {
	if index <= s.applied {
		return Result{Status: StatusSkipped}
	}
	s.applied = index
	if cmd.Validate() != nil {
		return Result{Status: StatusInvalid}
	}
	if s.opts.NoDedup || cmd.ClientID == "" {
		return s.exec(cmd)
	}
	sess := s.sessions[cmd.ClientID]
	if sess != nil {
		switch {
		case cmd.Seq == sess.seq:
			r := sess.result
			r.Duplicate = true
			return r
		case cmd.Seq < sess.seq:
			return Result{Status: StatusStaleSeq}
		}
	}
	r := s.exec(cmd)
	s.record(sess, cmd, index, r)
	return r
}

// exec performs a validated command on the registers.
func (s *Store) exec(cmd Command) Result {
	cur, ok := s.regs[cmd.Key]
	switch cmd.Op {
	case OpWrite:
		s.regs[cmd.Key] = cmd.Value
		return Result{Status: StatusOK, Value: cmd.Value, Present: true}
	case OpCAS:
		if !ok || cur != cmd.From {
			return Result{Status: StatusCASMismatch, Value: cur, Present: ok}
		}
		s.regs[cmd.Key] = cmd.To
		return Result{Status: StatusOK, Value: cmd.To, Present: true}
	}
	return Result{Status: StatusInvalid} // unreachable after Validate
}

// record caches r as the answer to cmd.Seq, creating the session (and
// evicting the oldest if the table is full) when sess is nil.
func (s *Store) record(sess *session, cmd Command, index uint64, r Result) {
	if sess == nil {
		if len(s.sessions) >= s.opts.MaxSessions {
			old := s.oldest
			s.unlink(old)
			delete(s.sessions, old.client)
		}
		sess = &session{client: cmd.ClientID}
		s.sessions[cmd.ClientID] = sess
	} else {
		s.unlink(sess)
	}
	sess.seq, sess.index, sess.result = cmd.Seq, index, r
	s.pushNewest(sess)
}

func (s *Store) unlink(x *session) {
	if x.prev != nil {
		x.prev.next = x.next
	} else {
		s.oldest = x.next
	}
	if x.next != nil {
		x.next.prev = x.prev
	} else {
		s.newest = x.prev
	}
	x.prev, x.next = nil, nil
}

func (s *Store) pushNewest(x *session) {
	x.prev = s.newest
	if s.newest != nil {
		s.newest.next = x
	} else {
		s.oldest = x
	}
	s.newest = x
}

// Get returns the value of key and whether it has one.
func (s *Store) Get(key string) (value int64, present bool) {
	value, present = s.regs[key]
	return value, present
}

// AppliedIndex returns the index of the last applied (or restored) entry.
func (s *Store) AppliedIndex() uint64 { return s.applied }

// Len returns the number of keys that have a value.
func (s *Store) Len() int { return len(s.regs) }

// Sessions returns the number of client sessions held, for metrics.
func (s *Store) Sessions() int { return len(s.sessions) }
