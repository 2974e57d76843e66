package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

const (
	// handshakeTimeout drops a connection that does not identify itself,
	// so idle strangers cannot hold goroutines.
	handshakeTimeout = 5 * time.Second
	readBufSize      = 64 << 10
)

// errProtocol marks errors that are the peer's fault (counted as bad
// frames), as opposed to the connection merely ending.
var errProtocol = errors.New("protocol violation")

// acceptLoop accepts peers until ctx ends.
func (t *Transport) acceptLoop(ctx context.Context, ln net.Listener) {
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Likely out of file descriptors: back off rather than spin,
			// as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			t.log.Warn("accept failed", "err", err, "retry_in", delay)
			if !sleep(ctx, delay) {
				return
			}
			continue
		}
		delay = 0
		t.wg.Go(func() { t.serveConn(ctx, conn) })
	}
}

// serveConn reads one inbound connection until it ends or misbehaves.
func (t *Transport) serveConn(ctx context.Context, conn net.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	remote := conn.RemoteAddr().String()
	from, err := t.readConn(ctx, conn)
	log := t.log.With("remote", remote)
	if from != "" {
		log = log.With("peer", string(from))
	}
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, errProtocol):
		t.badFrames.Add(1)
		log.Warn("closing connection: bad frame", "err", err)
	case err != nil && from != "":
		log.Info("peer connection ended", "err", err)
	case err != nil:
		log.Debug("connection ended before handshake", "err", err)
	}
}

// readConn checks the handshake, then delivers messages until an error. It
// returns the sender once the handshake has been accepted.
func (t *Transport) readConn(ctx context.Context, conn net.Conn) (raft.NodeID, error) {
	br := bufio.NewReaderSize(conn, readBufSize)
	if err := conn.SetReadDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		return "", fmt.Errorf("set read deadline: %w", err)
	}
	from, client, err := t.readHandshake(br)
	if err != nil {
		return "", err
	}
	if client != "" {
		t.noteClientAddr(from, client, conn.RemoteAddr())
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return "", fmt.Errorf("clear read deadline: %w", err)
	}
	t.accepted.Add(1)
	t.log.Info("accepted peer connection", "peer", string(from), "remote", conn.RemoteAddr().String())

	var buf []byte
	for {
		p, err := readFrame(br, t.cfg.MaxFrame, buf)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrChecksum) {
				err = fmt.Errorf("%w: %w", errProtocol, err)
			}
			return from, err
		}
		// The decoder copies what it keeps, so the buffer can be reused;
		// but not a snapshot-sized one, for the connection's lifetime.
		if cap(p) <= readChunk {
			buf = p
		}
		m, err := DecodeMessage(p)
		if err != nil {
			return from, fmt.Errorf("%w: %w", errProtocol, err)
		}
		if m.From != from || m.To != t.cfg.ID {
			return from, fmt.Errorf("%w: %s from %q to %q on %q's connection to %q",
				errProtocol, m.Type, m.From, m.To, from, t.cfg.ID)
		}
		select {
		case t.recv <- m:
			t.received.Add(1)
		case <-ctx.Done():
			return from, ctx.Err()
		}
	}
}

// readHandshake reads and checks the first frame: it must come from a
// configured peer and be meant for this node, which catches swapped
// addresses in the configuration.
func (t *Transport) readHandshake(br *bufio.Reader) (raft.NodeID, string, error) {
	p, err := ReadFrame(br, maxHandshake)
	if err != nil {
		// A client that leaves without a word (a port probe) or a reset is
		// not a violation; silence past the deadline, a truncated or
		// oversize handshake are.
		var ne net.Error
		if errors.Is(err, io.EOF) || errors.As(err, &ne) && !ne.Timeout() {
			return "", "", err
		}
		return "", "", fmt.Errorf("%w: handshake: %w", errProtocol, err)
	}
	from, to, client, err := parseHandshake(p)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("%w: %w", errProtocol, err)
	case to != t.cfg.ID:
		return "", "", fmt.Errorf("%w: %w: %q dialed %q but this is %q", errProtocol, ErrHandshake, from, to, t.cfg.ID)
	case (*t.peers.Load())[from] == nil:
		return "", "", fmt.Errorf("%w: %w: unknown peer %q", errProtocol, ErrHandshake, from)
	}
	return from, client, nil
}

// noteClientAddr records the client address a peer advertised. One that
// binds every interface (":8001", "0.0.0.0:8001") is reached at the
// address its connection came from.
func (t *Transport) noteClientAddr(from raft.NodeID, client string, remote net.Addr) {
	host, port, err := net.SplitHostPort(client)
	if err != nil {
		return
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if ta, ok := remote.(*net.TCPAddr); ok {
			client = net.JoinHostPort(ta.IP.String(), port)
		}
	}
	t.mu.Lock()
	t.clients[from] = client
	t.mu.Unlock()
}

// ClientAddr returns the client API address peer id advertised when it
// last connected to us, if any.
func (t *Transport) ClientAddr(id raft.NodeID) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.clients[id]
	return a, ok
}
