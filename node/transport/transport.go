// Package transport carries raft.Messages between raftnode peers over TCP.
//
// Each peer gets one outbound connection, owned by a writer goroutine that
// drains the peer's bounded queue, batches frames into one buffered write
// and redials with capped, jittered exponential backoff. Inbound
// connections are read-only: they start with a handshake naming the
// sender, then carry CRC-checked frames (see ReadFrame). Raft tolerates
// lost messages, so the transport never blocks its caller: when a queue is
// full or a peer unreachable, messages are dropped and counted.
package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxFrame     = 64 << 20
	DefaultQueueSize    = 4096
	DefaultDialTimeout  = time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultAckTimeout   = 2 * time.Second
)

// Config configures a Transport.
type Config struct {
	// ID is this node; Peers holds every other node's dial address.
	ID    raft.NodeID
	Peers map[raft.NodeID]string
	// Listen is the address to accept peers on, e.g. "127.0.0.1:7001" or
	// ":7001". Ignored when Listener is set.
	Listen string
	// Listener, if set, is used instead of binding Listen. It lets tests
	// bind ":0" for every node before any node's Peers are known. The
	// Transport closes it.
	Listener net.Listener
	// Advertise, if set, is this node's client API address, told to the
	// peers we connect to (see ClientAddr). At most 255 bytes.
	Advertise string
	// Logger receives connection events and protocol violations; nil
	// discards them.
	Logger *slog.Logger
	// MaxFrame is the largest message payload sent or accepted; snapshots
	// travel in one frame, so it bounds the snapshot size. Default 64 MiB.
	MaxFrame int
	// QueueSize bounds each peer's outbound queue and the Receive channel.
	// Default 4096 messages.
	QueueSize int
	// DialTimeout bounds a connection attempt; WriteTimeout bounds the
	// write of one batch of frames. Defaults 1s and 5s.
	DialTimeout, WriteTimeout time.Duration
	// AckTimeout bounds how long data written to a peer may go
	// unacknowledged by the peer's kernel before the connection is
	// abandoned and redialled (TCP_USER_TIMEOUT; Linux only). Without it
	// a connection that lived through a partition keeps its messages in
	// TCP's retransmission backoff, which grows to tens of seconds over a
	// few partitions: the network heals, the cluster stays leaderless.
	// A peer that stops reading (paused, overloaded) keeps a zero window
	// and is abandoned too; Raft tolerates the messages lost with it.
	// Default 2s.
	AckTimeout time.Duration
}

// Stats are cumulative counters since New.
type Stats struct {
	// Sent counts messages flushed to a peer's connection.
	Sent uint64
	// Dropped counts messages given up: queue full, unknown peer, peer
	// unreachable, write failed, larger than MaxFrame, or sent after Close.
	Dropped uint64
	// Received counts messages delivered on the Receive channel.
	Received uint64
	// BadFrames counts inbound connections closed for a protocol
	// violation: bad handshake, oversize frame, CRC mismatch, undecodable
	// or misaddressed message.
	BadFrames uint64
	// Dialed counts outbound connections established; Accepted counts
	// inbound connections that passed the handshake.
	Dialed, Accepted uint64
}

// Transport sends and receives raft.Messages. Its methods are safe for
// concurrent use.
type Transport struct {
	cfg Config
	log *slog.Logger
	// peers is replaced, never modified, under mu (copy on write): Send,
	// on the hot path, reads it with one atomic load and no lock.
	peers atomic.Pointer[peerMap]
	recv  chan raft.Message

	mu      sync.Mutex
	ln      net.Listener
	ctx     context.Context // the peers' parent, once started
	cancel  context.CancelFunc
	started bool
	closed  atomic.Bool
	unknown map[raft.NodeID]bool   // peers already logged as unknown
	clients map[raft.NodeID]string // client addresses peers advertised
	wg      sync.WaitGroup

	sent, dropped, received, badFrames, dialed, accepted atomic.Uint64
}

// New checks cfg, fills in its defaults and returns a Transport that does
// nothing until Start. Messages sent before Start wait in the queues.
func New(cfg Config) (*Transport, error) {
	if err := checkID(cfg.ID); err != nil {
		return nil, fmt.Errorf("transport: config ID: %w", err)
	}
	if cfg.Listen == "" && cfg.Listener == nil {
		return nil, errors.New("transport: config: no Listen address")
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxFrame < 0 || int64(cfg.MaxFrame) > 1<<32-1 {
		return nil, fmt.Errorf("transport: config: MaxFrame %d out of range", cfg.MaxFrame)
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		cfg:     cfg,
		log:     log.With("component", "transport", "node", string(cfg.ID)),
		recv:    make(chan raft.Message, cfg.QueueSize),
		unknown: make(map[raft.NodeID]bool),
		clients: make(map[raft.NodeID]string),
	}
	if len(cfg.Advertise) > maxIDLen {
		return nil, fmt.Errorf("transport: config: Advertise longer than %d bytes", maxIDLen)
	}
	peers := make(peerMap, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		if err := t.checkPeer(id, addr); err != nil {
			return nil, fmt.Errorf("transport: config: %w", err)
		}
		peers[id] = newPeer(t, id, addr)
	}
	t.peers.Store(&peers)
	return t, nil
}

// peerMap is one immutable version of the peer set.
type peerMap map[raft.NodeID]*peer

func (t *Transport) checkPeer(id raft.NodeID, addr string) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("peer %q: %w", id, err)
	}
	if id == t.cfg.ID {
		return fmt.Errorf("peer %q is this node", id)
	}
	if addr == "" {
		return fmt.Errorf("peer %q has no address", id)
	}
	return nil
}

func checkID(id raft.NodeID) error {
	if id == raft.None || len(id) > maxIDLen {
		return fmt.Errorf("node ID must be 1 to %d bytes", maxIDLen)
	}
	return nil
}

// Start binds the listener (failing if the address is taken) and starts
// the accept loop and the peer writers. Cancelling ctx stops them as
// Close does, but only Close waits for them.
func (t *Transport) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return errors.New("transport: Start after Close")
	}
	if t.started {
		return errors.New("transport: already started")
	}
	ln := t.cfg.Listener
	if ln == nil {
		var err error
		ln, err = new(net.ListenConfig).Listen(ctx, "tcp", t.cfg.Listen)
		if err != nil {
			return fmt.Errorf("transport: listen: %w", err)
		}
	}
	t.ln, t.started = ln, true
	t.ctx, t.cancel = context.WithCancel(ctx)
	ctx = t.ctx
	// Closing the listener is what unblocks Accept.
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	t.wg.Go(func() { t.acceptLoop(ctx, ln) })
	peers := *t.peers.Load()
	for _, p := range peers {
		t.startPeer(p)
	}
	t.log.Info("transport started", "addr", ln.Addr().String(), "peers", len(peers))
	return nil
}

// startPeer runs p's writer until the transport stops or p is removed.
// Called with mu held, after Start.
func (t *Transport) startPeer(p *peer) {
	ctx, cancel := context.WithCancel(t.ctx)
	p.stop = cancel
	t.wg.Go(func() { p.run(ctx) })
}

// SetPeer adds a peer, or changes its address, while the transport runs:
// membership changes teach the node addresses it was not started with.
// Setting the address a peer already has does nothing.
func (t *Transport) SetPeer(id raft.NodeID, addr string) error {
	if err := t.checkPeer(id, addr); err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return errors.New("transport: SetPeer after Close")
	}
	old := *t.peers.Load()
	if p := old[id]; p != nil && p.addr == addr {
		return nil
	}
	next := maps.Clone(old)
	if p := old[id]; p != nil {
		t.stopPeer(p)
	}
	p := newPeer(t, id, addr)
	next[id] = p
	t.peers.Store(&next)
	delete(t.unknown, id)
	if t.started {
		t.startPeer(p)
	}
	t.log.Info("peer set", "peer", string(id), "addr", addr)
	return nil
}

// RemovePeer forgets a peer: its queued messages are dropped, its
// connection closed, and later messages to or from it are refused as
// from an unknown peer. Removing an unknown peer does nothing.
func (t *Transport) RemovePeer(id raft.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.peers.Load()
	p := old[id]
	if p == nil {
		return
	}
	next := maps.Clone(old)
	delete(next, id)
	t.peers.Store(&next)
	t.stopPeer(p)
	t.log.Info("peer removed", "peer", string(id))
}

// stopPeer ends p's writer (if it runs) and counts what it leaves queued.
func (t *Transport) stopPeer(p *peer) {
	if p.stop != nil {
		p.stop()
	}
	t.dropped.Add(uint64(len(p.queue)))
}

// Peers returns the current peer addresses.
func (t *Transport) Peers() map[raft.NodeID]string {
	peers := *t.peers.Load()
	out := make(map[raft.NodeID]string, len(peers))
	for id, p := range peers {
		out[id] = p.addr
	}
	return out
}

// Send queues each message for its m.To and returns at once. A message
// for an unknown peer, or one that finds its peer's queue full, is dropped
// and counted. The messages are encoded later by another goroutine, so the
// caller must not modify them (or their entries and snapshot) afterwards.
func (t *Transport) Send(msgs []raft.Message) {
	if t.closed.Load() {
		t.dropped.Add(uint64(len(msgs)))
		return
	}
	peers := *t.peers.Load()
	for _, m := range msgs {
		p := peers[m.To]
		if p == nil {
			t.dropped.Add(1)
			t.logUnknown(m.To)
			continue
		}
		select {
		case p.queue <- m:
		default:
			t.dropped.Add(1)
		}
	}
}

// logUnknown warns once per unknown destination: a misconfiguration would
// otherwise log on every heartbeat.
func (t *Transport) logUnknown(id raft.NodeID) {
	t.mu.Lock()
	first := !t.unknown[id]
	t.unknown[id] = true
	t.mu.Unlock()
	if first {
		t.log.Warn("dropping messages for unknown peer", "to", string(id))
	}
}

// Receive returns the channel on which inbound messages are delivered, in
// order per sending peer. Its buffer holds QueueSize messages; when it is
// full the readers wait, so a slow consumer pushes back on the senders,
// whose queues then drop. The channel is never closed: stop reading when
// the transport's context ends or after Close.
func (t *Transport) Receive() <-chan raft.Message { return t.recv }

// Addr returns the bound listen address, or nil before Start.
func (t *Transport) Addr() net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Sent:      t.sent.Load(),
		Dropped:   t.dropped.Load(),
		Received:  t.received.Load(),
		BadFrames: t.badFrames.Load(),
		Dialed:    t.dialed.Load(),
		Accepted:  t.accepted.Load(),
	}
}

// Close stops the listener, closes every connection and waits for all of
// the transport's goroutines to exit. Messages still queued are dropped.
// It is safe to call more than once.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed.Swap(true) {
		t.mu.Unlock()
		return nil
	}
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
	} else if t.cfg.Listener != nil {
		// Never started, but the listener was handed over to us.
		_ = t.cfg.Listener.Close()
	}
	t.wg.Wait()
	for _, p := range *t.peers.Load() {
		t.dropped.Add(uint64(len(p.queue)))
	}
	t.log.Info("transport closed")
	return nil
}
