// Package netdelay adds latency to the TCP connections a node accepts,
// per source address, since this machine's kernel has no tc netem. It is
// a transparent proxy: an iptables REDIRECT (nat PREROUTING, installed
// before the node's program starts, so that every peer connection goes
// through it) sends incoming connections for the peer port to the proxy,
// which finds the original destination (SO_ORIGINAL_DST), connects to it
// and copies both ways, holding every chunk read from a source for that
// source's delay before writing it on. Order is kept; throughput is not
// limited beyond a bounded queue.
//
// Latency is per directed link: data from source S to this node waits
// Delay(S); data back to S waits the same (for raftnode, whose peer
// connections carry messages one way only, that reverse flow is just TCP
// acknowledgements; etcd's streams carry messages both ways).
package netdelay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Proxy is the running proxy.
type Proxy struct {
	log    *slog.Logger
	mu     sync.Mutex
	delays map[netip.Addr]time.Duration
	stats  map[netip.Addr]*linkStats
}

type linkStats struct {
	chunks, bytes atomic.Uint64
	maxWaitNs     atomic.Int64 // the longest a chunk was held
}

// LinkStats says what the proxy did to one source's traffic.
type LinkStats struct {
	Source  string        `json:"source"`
	Delay   time.Duration `json:"delay"`
	Chunks  uint64        `json:"chunks"`
	Bytes   uint64        `json:"bytes"`
	MaxHeld time.Duration `json:"max_held"`
}

// New returns a proxy with no delays.
func New(log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{log: log, delays: map[netip.Addr]time.Duration{}, stats: map[netip.Addr]*linkStats{}}
}

// SetDelays replaces the delays in force: traffic from each source in d
// is held that long; from any other source, not at all. The statistics
// start again.
func (p *Proxy) SetDelays(d map[netip.Addr]time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays = d
	p.stats = map[netip.Addr]*linkStats{}
}

// Stats reports, per source seen since the last SetDelays, what was
// held and for how long at most.
func (p *Proxy) Stats() []LinkStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []LinkStats
	for a, s := range p.stats {
		out = append(out, LinkStats{Source: a.String(), Delay: p.delays[a], Chunks: s.chunks.Load(),
			Bytes: s.bytes.Load(), MaxHeld: time.Duration(s.maxWaitNs.Load())})
	}
	return out
}

func (p *Proxy) link(src netip.Addr) (time.Duration, *linkStats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats[src]
	if s == nil {
		s = &linkStats{}
		p.stats[src] = s
	}
	return p.delays[src], s
}

// Serve accepts redirected connections on ln until ctx is done.
func (p *Proxy) Serve(ctx context.Context, ln *net.TCPListener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("netdelay: accept: %w", err)
		}
		go p.handle(ctx, c)
	}
}

func (p *Proxy) handle(ctx context.Context, in *net.TCPConn) {
	defer in.Close()
	dst, err := originalDst(in)
	if err != nil {
		p.log.Warn("netdelay: no original destination; was the connection redirected?", "err", err)
		return
	}
	var d net.Dialer
	out, err := d.DialContext(ctx, "tcp", dst.String())
	if err != nil {
		p.log.Warn("netdelay: connect to the original destination", "dst", dst, "err", err)
		return
	}
	defer out.Close()
	src := in.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	done := make(chan struct{}, 2)
	go func() { p.pipe(out, in, src); done <- struct{}{} }()
	go func() { p.pipe(in, out, src); done <- struct{}{} }()
	<-done // one side ended: end both
}

// pipe copies from r to w, holding each chunk for the source's delay
// (read afresh for every chunk, so a change applies at once).
func (p *Proxy) pipe(w io.WriteCloser, r io.Reader, src netip.Addr) {
	type chunk struct {
		data      []byte
		read, due time.Time
	}
	q := make(chan chunk, 1024)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			if n > 0 {
				delay, _ := p.link(src)
				now := time.Now()
				select {
				case q <- chunk{data: buf[:n], read: now, due: now.Add(delay)}:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer w.Close()
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		_, s := p.link(src)
		s.chunks.Add(1)
		s.bytes.Add(uint64(len(c.data)))
		held := time.Since(c.read).Nanoseconds()
		for old := s.maxWaitNs.Load(); held > old && !s.maxWaitNs.CompareAndSwap(old, held); old = s.maxWaitNs.Load() {
		}
		if _, err := w.Write(c.data); err != nil {
			return
		}
	}
}

// soOriginalDst is SO_ORIGINAL_DST from linux/netfilter_ipv4.h.
const soOriginalDst = 80

// originalDst returns where a REDIRECTed connection was going.
func originalDst(c *net.TCPConn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var addr netip.AddrPort
	var serr error
	err = raw.Control(func(fd uintptr) {
		// A sockaddr_in comes back in the 16 bytes of an IPv6Mreq.
		m, err := syscall.GetsockoptIPv6Mreq(int(fd), syscall.SOL_IP, soOriginalDst)
		if err != nil {
			serr = err
			return
		}
		b := m.Multiaddr
		port := uint16(b[2])<<8 | uint16(b[3])
		addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]}), port)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	if !addr.IsValid() || addr.Port() == 0 {
		return netip.AddrPort{}, errors.New("SO_ORIGINAL_DST: no address")
	}
	return addr, nil
}
