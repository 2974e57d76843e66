package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Wire format. A connection carries one direction only: the dialer writes,
// the acceptor reads. It opens with a handshake frame, then message frames.
// Every frame is
//
//	uint32 little-endian payload length
//	uint32 little-endian CRC32C (Castagnoli) of the payload
//	payload
//
// A handshake payload is magic "RAFTCHK1", one version byte, then the
// sender's and the intended receiver's IDs, each one length byte and the
// bytes, and optionally the sender's client API address, encoded alike.
// A message payload is raft.MarshalMessage.

const (
	handshakeMagic = "RAFTCHK1"
	// protocolVersion changes whenever the framing or handshake changes, so
	// a node of another version is turned away at connect time instead of
	// misreading frames.
	protocolVersion = 1
	frameHeaderSize = 8
	maxIDLen        = 255
	// maxHandshake bounds the handshake frame so a stranger cannot make us
	// allocate before we know it speaks our protocol.
	maxHandshake = len(handshakeMagic) + 1 + 3*(1+maxIDLen)
	// readChunk is how much of a large payload is allocated ahead of the
	// bytes actually received, so a forged length costs the sender as
	// much as it costs us.
	readChunk = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrFrameTooLarge is wrapped when a frame's length exceeds the limit.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrChecksum is wrapped when a frame's CRC does not match its payload.
	ErrChecksum = errors.New("transport: frame checksum mismatch")
	// ErrHandshake is wrapped when a connection's first frame is not an
	// acceptable handshake.
	ErrHandshake = errors.New("transport: bad handshake")
)

// ReadFrame reads one frame from r and returns its payload, checked against
// its CRC. A length above limit is refused before anything is allocated. At
// a clean frame boundary the end of the stream is io.EOF; inside a frame it
// is io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, limit int) ([]byte, error) {
	return readFrame(r, limit, nil)
}

// readFrame is ReadFrame reusing buf's storage when it is large enough.
func readFrame(r *bufio.Reader, limit int, buf []byte) ([]byte, error) {
	var hdr [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	sum := binary.LittleEndian.Uint32(hdr[4:8])
	if limit < 0 || uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	p, err := readPayload(r, int(n), buf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("transport: reading %d-byte payload: %w", n, err)
	}
	if got := crc32.Checksum(p, castagnoli); got != sum {
		return nil, fmt.Errorf("%w: got %#08x, header says %#08x", ErrChecksum, got, sum)
	}
	return p, nil
}

// readPayload reads exactly n bytes. Beyond readChunk it grows the buffer
// as the data arrives rather than trusting n up front.
func readPayload(r io.Reader, n int, buf []byte) ([]byte, error) {
	if n <= cap(buf) || n <= readChunk {
		if n > cap(buf) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	p := make([]byte, 0, readChunk)
	for len(p) < n {
		k := min(n-len(p), max(len(p), readChunk))
		p = slices.Grow(p, k)
		got, err := io.ReadFull(r, p[len(p):len(p)+k])
		p = p[:len(p)+got]
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// beginFrame appends room for a frame header to b; sealFrame fills it in
// once the payload has been appended after it.
func beginFrame(b []byte) []byte { return append(b, make([]byte, frameHeaderSize)...) }

// sealFrame writes the header of the frame that starts at b[start:].
func sealFrame(b []byte, start int) {
	payload := b[start+frameHeaderSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
}

// appendMessageFrame appends m as a complete frame to b and reports the
// payload size so the caller can enforce its limit.
func appendMessageFrame(b []byte, m raft.Message) ([]byte, int) {
	start := len(b)
	b = raft.MarshalMessage(beginFrame(b), m)
	sealFrame(b, start)
	return b, len(b) - start - frameHeaderSize
}

// DecodeMessage decodes a message frame's payload. Errors wrap
// raft.ErrCorrupt.
func DecodeMessage(payload []byte) (raft.Message, error) {
	m, err := raft.UnmarshalMessage(payload)
	if err != nil {
		return raft.Message{}, fmt.Errorf("transport: decode message: %w", err)
	}
	return m, nil
}

// appendHandshake appends the handshake frame from one node to another.
// The IDs' lengths were checked by New. client, if not empty, is the
// sender's client API address (at most maxIDLen bytes, also checked by
// New): an optional last field, so that a receiver can pass requests
// only a leader serves on to it.
func appendHandshake(b []byte, from, to raft.NodeID, client string) []byte {
	start := len(b)
	b = append(beginFrame(b), handshakeMagic...)
	b = append(b, protocolVersion)
	b = append(b, byte(len(from)))
	b = append(b, from...)
	b = append(b, byte(len(to)))
	b = append(b, to...)
	if client != "" {
		b = append(b, byte(len(client)))
		b = append(b, client...)
	}
	sealFrame(b, start)
	return b
}

// parseHandshake decodes a handshake payload, checking magic and version.
// client is "" when the sender advertised none.
func parseHandshake(p []byte) (from, to raft.NodeID, client string, err error) {
	if len(p) < len(handshakeMagic)+1 || string(p[:len(handshakeMagic)]) != handshakeMagic {
		return "", "", "", fmt.Errorf("%w: not a raftcheck peer (magic %q)", ErrHandshake, p[:min(len(p), len(handshakeMagic))])
	}
	p = p[len(handshakeMagic):]
	if v := p[0]; v != protocolVersion {
		return "", "", "", fmt.Errorf("%w: protocol version %d, want %d", ErrHandshake, v, protocolVersion)
	}
	p = p[1:]
	id := func() raft.NodeID {
		if err != nil {
			return ""
		}
		// int first: 1+p[0] in byte arithmetic wraps for a 255-byte ID.
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			err = fmt.Errorf("%w: truncated node ID", ErrHandshake)
			return ""
		}
		n := 1 + int(p[0])
		s := raft.NodeID(p[1:n])
		p = p[n:]
		return s
	}
	from, to = id(), id()
	if err == nil && len(p) > 0 {
		if client = string(id()); err == nil && client == "" {
			err = fmt.Errorf("%w: empty client address", ErrHandshake)
		}
	}
	if err == nil && len(p) != 0 {
		err = fmt.Errorf("%w: %d trailing bytes", ErrHandshake, len(p))
	}
	if err != nil {
		return "", "", "", err
	}
	return from, to, client, nil
}
