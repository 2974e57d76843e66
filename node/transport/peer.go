package transport

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

const (
	// Reconnect backoff: short enough that a restarted peer is reached well
	// within an election timeout, capped so a dead peer costs little.
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
	// maxBatchBytes ends a batch so one busy peer's flush and its write
	// deadline cover a bounded amount of data.
	maxBatchBytes = 1 << 20
	writeBufSize  = 64 << 10
)

// peer is the outbound side of one remote node: its queue and the writer
// goroutine that owns the connection.
type peer struct {
	t     *Transport
	id    raft.NodeID
	addr  string
	queue chan raft.Message
	rng   *rand.Rand // jitter; used only by the writer goroutine
	buf   []byte     // scratch frame encoding, reused across messages
	// stop ends the writer goroutine; set under the transport's mu when
	// it starts.
	stop context.CancelFunc
}

func newPeer(t *Transport, id raft.NodeID, addr string) *peer {
	// Seeded from both IDs: deterministic per node, yet peers of one node
	// and the same peer on different nodes do not retry in lockstep.
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s", t.cfg.ID, id)
	seed := h.Sum64()
	return &peer{
		t:     t,
		id:    id,
		addr:  addr,
		queue: make(chan raft.Message, t.cfg.QueueSize),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// outConn is an established outbound connection. dead is closed by a
// watcher goroutine when the peer closes its end: we never expect to read
// anything, so a read returning means the connection is gone, and the
// writer can redial before losing a batch to it.
type outConn struct {
	conn net.Conn
	bw   *bufio.Writer
	dead chan struct{}
}

// run is the writer goroutine: it waits for a message, makes sure it has a
// connection, writes everything queued as one batch and flushes.
func (p *peer) run(ctx context.Context) {
	var c *outConn
	defer func() {
		if c != nil {
			_ = c.conn.Close()
		}
	}()
	backoff := time.Duration(0)
	failing := false // log the first failure of a streak at warn, the rest at debug
	for {
		var m raft.Message
		select {
		case <-ctx.Done():
			return
		case m = <-p.queue:
		}
		if c != nil && isClosed(c.dead) {
			p.t.log.Info("peer closed connection", "peer", string(p.id))
			_ = c.conn.Close()
			c = nil
		}
		var err error
		if c == nil {
			c, err = p.dial(ctx)
			if err != nil {
				n := 1 + p.dropQueued()
				p.t.dropped.Add(uint64(n))
				p.logFailure(&failing, "dial failed", err, n)
			}
		}
		if c != nil {
			var n int
			if n, err = p.writeBatch(c, m); err != nil {
				p.t.dropped.Add(uint64(n))
				_ = c.conn.Close()
				c = nil
				p.logFailure(&failing, "write failed", err, n)
			} else {
				p.t.sent.Add(uint64(n))
			}
		}
		if err == nil {
			backoff, failing = 0, false
			continue
		}
		backoff = min(max(2*backoff, minBackoff), maxBackoff)
		// Full range jitter in [backoff/2, backoff).
		d := backoff/2 + time.Duration(p.rng.Int64N(int64(backoff/2)))
		if !sleep(ctx, d) {
			return
		}
	}
}

func (p *peer) logFailure(failing *bool, msg string, err error, dropped int) {
	level := p.t.log.Warn
	if *failing {
		level = p.t.log.Debug
	}
	*failing = true
	level(msg, "peer", string(p.id), "addr", p.addr, "dropped", dropped, "err", err)
}

// dial connects to the peer and buffers the handshake, which goes out with
// the first batch.
func (p *peer) dial(ctx context.Context) (*outConn, error) {
	d := net.Dialer{Timeout: p.t.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.addr, err)
	}
	if err := setAckTimeout(conn, p.t.cfg.AckTimeout); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("dial %s: %w", p.addr, err)
	}
	c := &outConn{conn: conn, bw: bufio.NewWriterSize(conn, writeBufSize), dead: make(chan struct{})}
	p.buf = appendHandshake(p.buf[:0], p.t.cfg.ID, p.id, p.t.cfg.Advertise)
	_, _ = c.bw.Write(p.buf) // cannot fail: fits in the empty buffer
	// Closing on cancellation unblocks a write stuck on a peer that
	// stopped reading, and the watcher's read.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	p.t.wg.Go(func() {
		defer stop()
		defer close(c.dead)
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				return
			}
		}
	})
	p.t.dialed.Add(1)
	p.t.log.Info("connected to peer", "peer", string(p.id), "addr", p.addr)
	return c, nil
}

// writeBatch writes first and whatever else is queued, up to maxBatchBytes,
// and flushes once, so pipelined appends share syscalls. It returns how
// many messages the batch held (sent on success, lost on error).
func (p *peer) writeBatch(c *outConn, first raft.Message) (int, error) {
	if err := c.conn.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout)); err != nil {
		return 1, fmt.Errorf("set write deadline: %w", err)
	}
	n, bytes := 0, 0
	m := first
	for {
		var size int
		p.buf, size = appendMessageFrame(p.buf[:0], m)
		if size > p.t.cfg.MaxFrame {
			// The peer would reject it and drop the connection with it.
			p.t.dropped.Add(1)
			p.t.log.Warn("dropping message larger than MaxFrame", "peer", string(p.id),
				"type", m.Type.String(), "bytes", size, "max", p.t.cfg.MaxFrame)
		} else {
			n++
			bytes += len(p.buf)
			if _, err := c.bw.Write(p.buf); err != nil {
				return n, fmt.Errorf("write: %w", err)
			}
		}
		// Do not pin a snapshot-sized scratch buffer for the peer's lifetime.
		if cap(p.buf) > maxBatchBytes {
			p.buf = nil
		}
		if bytes >= maxBatchBytes {
			break
		}
		var ok bool
		select {
		case m, ok = <-p.queue:
		default:
		}
		if !ok {
			break
		}
	}
	if err := c.bw.Flush(); err != nil {
		return n, fmt.Errorf("flush: %w", err)
	}
	return n, nil
}

// dropQueued empties the queue, returning how many messages it held. It is
// called when the peer is unreachable so that what it receives after
// reconnecting is at most a backoff period old.
func (p *peer) dropQueued() int {
	for n := 0; ; n++ {
		select {
		case <-p.queue:
		default:
			return n
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// sleep waits for d or until ctx ends, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
