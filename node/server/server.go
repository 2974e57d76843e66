// Package server runs a replica on real disk, TCP and timers, and serves
// the client HTTP API. One goroutine, the event loop, owns the replica;
// HTTP handlers talk to it through channels, and a writer goroutine
// persists its batches (fsync off the loop) and reports them durable as
// events.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/node/storage"
	"github.com/raftcheck/raftcheck/node/transport"
)

// Config configures a raftnode server.
type Config struct {
	ID raft.NodeID
	// Peers maps every member, including ID, to its peer address; the
	// node listens on its own. Members added later are learned from the
	// log.
	Peers map[raft.NodeID]string
	// Join starts the node with no configuration, to be added to a
	// running cluster (POST /v1/members on its leader): Peers then only
	// says how to reach the members, and the data directory must be new.
	// Once the node has state, Join changes nothing.
	Join       bool
	ClientAddr string
	DataDir    string
	// Tick is the core's clock resolution; Heartbeat and ElectionTimeout
	// are rounded to whole ticks.
	Tick            time.Duration
	Heartbeat       time.Duration
	ElectionTimeout time.Duration
	// RequestTimeout bounds a client operation; past it a write answers
	// "info" (it may still take effect).
	RequestTimeout time.Duration
	SnapshotEvery  uint64
	Unsafe         replica.Unsafe
	RaftUnsafe     raft.Unsafe
	Logger         *slog.Logger
	// ClientListener and PeerListener, when set, are used instead of
	// binding ClientAddr and this node's peer address (tests bind :0).
	ClientListener, PeerListener net.Listener
}

// Defaults for the timing parameters.
const (
	DefaultTick            = 10 * time.Millisecond
	DefaultHeartbeat       = 50 * time.Millisecond
	DefaultElectionTimeout = 500 * time.Millisecond
	DefaultRequestTimeout  = 2 * time.Second
)

func (c *Config) setDefaults() error {
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ID == raft.None {
		return errors.New("server: --id is required")
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return fmt.Errorf("server: --id %s is not in --peers", c.ID)
	}
	if c.DataDir == "" {
		return errors.New("server: --data-dir is required")
	}
	if c.Heartbeat < c.Tick || c.ElectionTimeout < 2*c.Heartbeat {
		return fmt.Errorf("server: need tick (%v) <= heartbeat (%v) and election timeout (%v) >= 2x heartbeat",
			c.Tick, c.Heartbeat, c.ElectionTimeout)
	}
	return nil
}

// maxInflight bounds the appends in flight to each follower. The loop
// never waits for the disk, so it turns over for almost every request;
// with a wide window each turn's one or two entries would leave as their
// own append and come back as their own acknowledgement. Two in flight
// keep a batch filling while the previous one is on its way, so a busy
// leader sends about one append per follower per round trip and fsync
// (measured in-process with 64 writers: 0.3 peer messages per write,
// against 3.3 with a window of 256).
const maxInflight = 2

// Server is a running raftnode.
type Server struct {
	cfg       Config
	log       *slog.Logger
	requests  chan clientCall
	calls     chan func(*replica.Replica)
	status    atomic.Pointer[replica.Status]
	stats     atomic.Pointer[replica.Stats]
	metrics   *metrics
	storage   *storage.Storage
	transport *transport.Transport
	clientLn  net.Listener
	http      *http.Server
	front     *front
	// forwarder sends membership requests on to the leader.
	forwarder *http.Client
}

// clientCall carries one client operation into the event loop.
type clientCall struct {
	req  replica.Request
	done chan replica.Response
}

// New checks the configuration. Nothing is opened until Run.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, requests: make(chan clientCall, 1024),
		calls: make(chan func(*replica.Replica), 16), forwarder: &http.Client{}}
	s.status.Store(&replica.Status{ID: cfg.ID, Role: "follower"})
	s.stats.Store(&replica.Stats{})
	return s, nil
}

// Run opens the data directory, joins the cluster and serves until ctx
// is cancelled (a clean shutdown: nil) or the node fails.
func (s *Server) Run(ctx context.Context) error {
	st, state, err := storage.Open(s.cfg.DataDir, storage.Options{Logger: s.log, UnsafeNoFsync: s.cfg.Unsafe.NoFsync})
	if err != nil {
		return fmt.Errorf("open data directory %s: %w", s.cfg.DataDir, err)
	}
	s.storage = st
	defer st.Close()

	peers := make([]raft.NodeID, 0, len(s.cfg.Peers))
	others := map[raft.NodeID]string{}
	for id, addr := range s.cfg.Peers {
		peers = append(peers, id)
		if id != s.cfg.ID {
			others[id] = addr
		}
	}
	// Peers learn our client address from the handshake, so that they
	// can forward membership requests to us when we lead.
	advertise := s.cfg.ClientAddr
	if s.cfg.ClientListener != nil {
		advertise = s.cfg.ClientListener.Addr().String()
	}
	tr, err := transport.New(transport.Config{ID: s.cfg.ID, Listen: s.cfg.Peers[s.cfg.ID],
		Listener: s.cfg.PeerListener, Peers: others, Logger: s.log, Advertise: advertise})
	if err != nil {
		return err
	}
	s.transport = tr
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := tr.Start(ctx); err != nil {
		return fmt.Errorf("listen for peers: %w", err)
	}
	defer tr.Close()

	ticks := func(d time.Duration) int { return max(1, int(d/s.cfg.Tick)) }
	writer := newDiskWriter(st, tr)
	defer writer.close()
	rep, err := replica.New(replica.Config{
		Raft: raft.Config{ID: s.cfg.ID, Peers: peers, Join: s.cfg.Join,
			ElectionTick: ticks(s.cfg.ElectionTimeout), HeartbeatTick: ticks(s.cfg.Heartbeat),
			HardState: state.HardState, Snapshot: state.Snapshot, Entries: state.Entries,
			Unsafe: s.cfg.RaftUnsafe, MaxInflight: maxInflight},
		Storage: st, Writer: writer, Sender: tr, SnapshotEvery: s.cfg.SnapshotEvery,
		RequestTimeout: ticks(s.cfg.RequestTimeout),
		// Unique per start: the wall clock in nanoseconds, shifted so the
		// per-request counter never reaches the next start's range.
		RequestIDBase: uint64(time.Now().UnixNano()) << 8,
		Unsafe:        s.cfg.Unsafe, Logger: s.log, Addrs: s.cfg.Peers,
	})
	if err != nil {
		return fmt.Errorf("start replica: %w", err)
	}
	s.metrics = newMetrics(s)
	if err := s.serveHTTP(); err != nil {
		return err
	}
	defer s.shutdownHTTP()
	s.log.Info("raftnode started", "id", s.cfg.ID, "peers", s.cfg.Peers, "join", s.cfg.Join, "client", s.clientLn.Addr().String(),
		"term", state.HardState.Term, "snapshot", state.Snapshot.Meta.Index, "entries", len(state.Entries))
	return s.loop(ctx, rep, writer)
}

// loop is the only goroutine that touches the replica. It drains whatever
// is waiting before Process, so one append per follower covers many
// proposals; the writer fsyncs in the background, one fsync for all the
// batches that queued meanwhile (group commit).
func (s *Server) loop(ctx context.Context, rep *replica.Replica, writer *diskWriter) error {
	ticker := time.NewTicker(s.cfg.Tick)
	defer ticker.Stop()
	recv := s.transport.Receive()
	for {
		select {
		case <-ctx.Done():
			s.log.Info("shutting down")
			return nil
		case <-ticker.C:
			rep.Tick()
		case m := <-recv:
			rep.Step(m)
		case c := <-s.requests:
			s.submit(rep, c)
		case f := <-s.calls:
			f(rep)
		case <-writer.done:
			seq, err := writer.result()
			if err != nil {
				s.log.Error("node stopping: disk write failed", "err", err)
				return err
			}
			if err := rep.Durable(seq); err != nil {
				s.log.Error("node stopping", "err", err)
				return err
			}
		}
	drain:
		for range 4096 {
			select {
			case m := <-recv:
				rep.Step(m)
			case c := <-s.requests:
				s.submit(rep, c)
			default:
				break drain
			}
		}
		if err := rep.Process(); err != nil {
			s.log.Error("node stopping", "err", err)
			return err
		}
		status, stats := rep.Status(), rep.Stats()
		s.status.Store(&status)
		s.stats.Store(&stats)
	}
}

func (s *Server) submit(rep *replica.Replica, c clientCall) {
	rep.Submit(c.req, func(r replica.Response) { c.done <- r })
}

// do runs one operation through the event loop, waiting at most the
// request timeout.
func (s *Server) do(ctx context.Context, req replica.Request) replica.Response {
	deadline := s.requestDeadline()
	c, refused := s.send(ctx, req, deadline)
	if refused != nil {
		return *refused
	}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	return s.await(ctx, c, timeout.C)
}

// requestDeadline is when an operation starting now gives up waiting:
// the request timeout, plus a tick for the loop's own timeout to answer
// first.
func (s *Server) requestDeadline() time.Time {
	return time.Now().Add(s.cfg.RequestTimeout + s.cfg.Tick)
}

// send hands req to the event loop, waiting for room until deadline. A
// non-nil response means it was not submitted, and is the answer.
func (s *Server) send(ctx context.Context, req replica.Request, deadline time.Time) (clientCall, *replica.Response) {
	c := clientCall{req: req, done: make(chan replica.Response, 1)}
	select {
	case s.requests <- c:
		return c, nil
	default:
	}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	select {
	case s.requests <- c:
		return c, nil
	case <-ctx.Done():
		return c, &replica.Response{Outcome: replica.Fail, Reason: "request cancelled before it was submitted"}
	case <-timeout.C:
		return c, &replica.Response{Outcome: replica.Fail, Reason: "node overloaded: request not submitted"}
	}
}

// await waits for the loop's answer to a submitted call until ctx ends or
// timeout fires; without an answer a read failed (it has no effect) and
// anything else may still take effect.
func (s *Server) await(ctx context.Context, c clientCall, timeout <-chan time.Time) replica.Response {
	select {
	case r := <-c.done:
		return r
	case <-ctx.Done():
	case <-timeout:
	}
	if c.req.Op == replica.OpRead {
		return replica.Response{Outcome: replica.Fail, Reason: "timed out; reads have no effect"}
	}
	return replica.Response{Outcome: replica.Info, Reason: "timed out: the operation may still take effect"}
}

// Status returns the node's state as of the last event.
func (s *Server) Status() replica.Status { return *s.status.Load() }

// ClientAddr returns the bound client address (nil before Run binds it).
func (s *Server) ClientAddr() net.Addr {
	if s.clientLn == nil {
		return nil
	}
	return s.clientLn.Addr()
}
