// Package kv is the replicated state machine of raftnode: a map of string
// keys to int64 registers, with client sessions that make a retried write or
// cas take effect at most once (Raft thesis §6.3).
//
// Everything here is deterministic: no clocks, no randomness, and Go's map
// order never reaches anything observable, so every replica that applies the
// same log ends in the same state and writes byte-identical snapshots.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Op is the operation a Command performs. Reads do not go through the log
// (they use ReadIndex and Get), so only mutations are listed.
type Op uint8

const (
	// OpWrite sets Key to Value.
	OpWrite Op = iota + 1
	// OpCAS sets Key to To if it currently holds From.
	OpCAS
)

func (o Op) String() string {
	switch o {
	case OpWrite:
		return "write"
	case OpCAS:
		return "cas"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Limits on the sizes of a command's strings. Decoders enforce them before
// allocating; servers should enforce them on client input too, so a request
// that would be rejected after commit is refused before it is proposed.
const (
	MaxKeyLen      = 64 << 10
	MaxClientIDLen = 1 << 10
	MaxNodeIDLen   = 1 << 10
)

// commandVersion is the first byte of every encoded Command. A new format
// gets a new version so that logs written by older binaries stay readable.
const commandVersion = 1

// maxCommandLen is the longest valid encoding: every string at its limit and
// every number at its widest. Longer input is rejected before it is parsed.
const maxCommandLen = 2 + 3*binary.MaxVarintLen64 + MaxNodeIDLen + MaxClientIDLen + MaxKeyLen + // header and strings
	2*binary.MaxVarintLen64 + // ID.N, Seq
	2*binary.MaxVarintLen64 // Value, or From and To

// RequestID identifies a proposal so the node that proposed it can match the
// applied entry to the waiting client. It is not used for deduplication.
type RequestID struct {
	Node string
	N    uint64
}

// Command is what a log entry carries.
type Command struct {
	ID       RequestID
	ClientID string // empty: no session, no dedup
	Seq      uint64 // the client's sequence number, > 0 when ClientID is set
	Op       Op
	Key      string
	Value    int64 // OpWrite
	From, To int64 // OpCAS
}

// ErrInvalidCommand is wrapped by the errors of Command.Validate.
var ErrInvalidCommand = errors.New("invalid command")

// Validate reports whether c is a command Apply will execute: a known op, a
// non-empty key, strings within their limits, and Seq > 0 exactly when
// ClientID is set (Seq 0 is the "nothing applied yet" mark of a session).
// Proposers should call it before proposing, so a bad request fails
// definitely instead of being committed and then answered StatusInvalid.
func (c Command) Validate() error {
	switch {
	case c.Op != OpWrite && c.Op != OpCAS:
		return fmt.Errorf("kv: unknown op %d: %w", uint8(c.Op), ErrInvalidCommand)
	case c.Key == "":
		return fmt.Errorf("kv: empty key: %w", ErrInvalidCommand)
	case len(c.Key) > MaxKeyLen:
		return fmt.Errorf("kv: key length %d exceeds %d: %w", len(c.Key), MaxKeyLen, ErrInvalidCommand)
	case len(c.ClientID) > MaxClientIDLen:
		return fmt.Errorf("kv: client id length %d exceeds %d: %w", len(c.ClientID), MaxClientIDLen, ErrInvalidCommand)
	case len(c.ID.Node) > MaxNodeIDLen:
		return fmt.Errorf("kv: node id length %d exceeds %d: %w", len(c.ID.Node), MaxNodeIDLen, ErrInvalidCommand)
	case c.ClientID != "" && c.Seq == 0:
		return fmt.Errorf("kv: client %q: seq must be > 0: %w", c.ClientID, ErrInvalidCommand)
	case c.ClientID == "" && c.Seq != 0:
		return fmt.Errorf("kv: seq %d without a client id: %w", c.Seq, ErrInvalidCommand)
	}
	return nil
}

// Marshal encodes c in format version 1:
//
//	version(1) op(1) node(str) n(uvarint) client(str) seq(uvarint) key(str)
//	write: value(varint)   cas: from(varint) to(varint)
//
// where str is a uvarint length followed by the bytes. Only the operands of
// c.Op are encoded (Value of a cas is dropped). Marshal does not validate:
// UnmarshalCommand rejects what Validate rejects.
func (c Command) Marshal() []byte {
	b := make([]byte, 0, 2+len(c.ID.Node)+len(c.ClientID)+len(c.Key)+7*binary.MaxVarintLen64)
	b = append(b, commandVersion, byte(c.Op))
	b = appendString(b, c.ID.Node)
	b = binary.AppendUvarint(b, c.ID.N)
	b = appendString(b, c.ClientID)
	b = binary.AppendUvarint(b, c.Seq)
	b = appendString(b, c.Key)
	switch c.Op {
	case OpWrite:
		b = binary.AppendVarint(b, c.Value)
	case OpCAS:
		b = binary.AppendVarint(b, c.From)
		b = binary.AppendVarint(b, c.To)
	}
	return b
}

// UnmarshalCommand decodes what Marshal encoded. It is strict: truncated
// input, trailing bytes, an unknown version or op, oversized strings,
// non-minimal varints and commands that fail Validate are errors wrapping
// ErrMalformed. Whatever it accepts, Marshal re-encodes to the same bytes.
func UnmarshalCommand(b []byte) (Command, error) {
	if len(b) > maxCommandLen {
		return Command{}, fmt.Errorf("kv: decode command: %d bytes exceeds the maximum %d: %w", len(b), maxCommandLen, ErrMalformed)
	}
	d := decoder{what: "command", b: b}
	if v := d.readByte("version"); d.err == nil && v != commandVersion {
		d.failf("version", "unsupported version %d", v)
	}
	var c Command
	c.Op = Op(d.readByte("op"))
	if d.err == nil && c.Op != OpWrite && c.Op != OpCAS {
		// Fail here: the op decides which operands follow.
		d.failf("op", "unknown op %d", uint8(c.Op))
	}
	c.ID.Node = d.readString("node id", MaxNodeIDLen)
	c.ID.N = d.readUvarint("request number")
	c.ClientID = d.readString("client id", MaxClientIDLen)
	c.Seq = d.readUvarint("seq")
	c.Key = d.readString("key", MaxKeyLen)
	switch c.Op {
	case OpWrite:
		c.Value = d.readVarint("value")
	case OpCAS:
		c.From = d.readVarint("cas from")
		c.To = d.readVarint("cas to")
	}
	if err := d.finish(); err != nil {
		return Command{}, err
	}
	if err := c.Validate(); err != nil {
		return Command{}, fmt.Errorf("kv: decode command: %w: %w", ErrMalformed, err)
	}
	return c, nil
}
