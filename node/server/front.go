package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/node/kv"
	"github.com/raftcheck/raftcheck/node/replica"
)

// The front serves the client port. It answers the plain requests of the
// key-value operations itself: HTTP/1.1, a short path with an unreserved
// key, a Content-Length body, no Expect or Transfer-Encoding. net/http
// spends per request a goroutine and a read syscall for its background
// read, a context, header maps and reflection, which made it the leader's
// largest cost. A connection whose request is anything else (another
// route, an unusual header, a large body, HTTP/1.0, bare LF line endings)
// is handed, with the bytes already read, to net/http for good, so every
// corner of HTTP keeps net/http's behaviour.

// frontBufSize bounds a request the front parses (headers and body).
const frontBufSize = 4 << 10

type front struct {
	s       *Server
	ln      net.Listener
	handoff *chanListener
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	// plain counts requests answered here, handedOff connections given
	// to net/http, overlapped operations submitted while another on their
	// connection was in flight (for tests).
	plain, handedOff, overlapped atomic.Uint64
}

func newFront(s *Server, ln net.Listener) *front {
	ctx, cancel := context.WithCancel(context.Background())
	return &front{s: s, ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{},
		handoff: &chanListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}}
}

// start accepts until close.
func (f *front) start() { f.wg.Go(f.serve) }

func (f *front) serve() {
	var delay time.Duration
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Likely out of file descriptors: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			f.s.log.Warn("client accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-f.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		if !f.track(c, true) {
			_ = c.Close()
			return
		}
		go func() {
			defer f.wg.Done()
			f.serveConn(c)
		}()
	}
}

// track adds or removes c from the connections close must end and wait
// for (an added one is counted in wg until its goroutine ends); false
// once closed.
func (f *front) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		if f.closed {
			return false
		}
		f.conns[c] = struct{}{}
		f.wg.Add(1)
	} else {
		delete(f.conns, c)
	}
	return true
}

// close stops accepting and ends every connection the front still owns;
// operations waiting in them are cancelled. Handed-off connections are
// net/http's to shut down.
func (f *front) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	_ = f.ln.Close()
	f.cancel()
	f.wg.Wait()
}

func (f *front) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, frontBufSize)
	// The first request's header must arrive within ReadHeaderTimeout of
	// the accept, as net/http demands: a connection that never sends
	// anything must not hold a descriptor forever.
	if err := c.SetReadDeadline(time.Now().Add(f.s.http.ReadHeaderTimeout)); err != nil {
		_ = c.Close()
		f.track(c, false)
		return
	}
	p := newPipeline(f, c)
	for first := true; ; first = false {
		req, ok, err := f.readRequest(c, br, first)
		if err != nil {
			break
		}
		if !ok {
			// net/http takes the connection once every answer before
			// this request is out.
			if !p.wait() {
				break
			}
			p.finish()
			f.track(c, false)
			f.handedOff.Add(1)
			select {
			case f.handoff.conns <- &bufferedConn{Conn: c, r: br}:
				return
			case <-f.handoff.done:
			case <-f.ctx.Done():
			}
			_ = c.Close()
			return
		}
		f.plain.Add(1)
		op := &pipelined{start: req.start, close: req.close}
		op.req, op.code, op.answer = prepareOp(req.op, req.key, req.body, req.clientID, req.seq)
		if _, err := br.Discard(req.size); err != nil {
			break
		}
		if !p.admit(req.op == replica.OpRead) {
			break
		}
		if op.code == 0 {
			op.deadline = f.s.requestDeadline()
			var refused *replica.Response
			if op.call, refused = f.s.send(f.ctx, op.req, op.deadline); refused != nil {
				op.resp, op.ready = *refused, true
			}
		}
		p.push(op)
		if req.close {
			break
		}
	}
	p.finish()
	f.track(c, false)
	_ = c.Close()
}

// plainRequest is an operation the front answers itself. body points into
// the reader's buffer: valid until size bytes are discarded.
type plainRequest struct {
	start         time.Time
	op            replica.Op
	key           string
	body          []byte
	clientID, seq string
	close         bool
	size          int
}

// readRequest peeks at the next request. ok is false when it is not
// plain: nothing was consumed, and net/http must take the connection.
// An error ends the connection (it closed, or sent no complete header
// within ReadHeaderTimeout, as net/http would allow).
// deadline says a read deadline is already set (the first request's).
func (f *front) readRequest(c net.Conn, br *bufio.Reader, deadline bool) (plainRequest, bool, error) {
	var req plainRequest
	if _, err := br.Peek(1); err != nil {
		return req, false, err
	}
	req.start = time.Now()
	var hdr []byte
	for {
		buf, _ := br.Peek(br.Buffered())
		if end := bytes.Index(buf, []byte("\r\n\r\n")); end >= 0 {
			hdr = buf[:end+2]
			break
		}
		if bytes.IndexByte(buf, '\n') >= 0 && !crlfOnly(buf) || len(buf) == br.Size() {
			return req, false, clearDeadline(c, deadline)
		}
		if !deadline {
			deadline = true
			if err := c.SetReadDeadline(time.Now().Add(f.s.http.ReadHeaderTimeout)); err != nil {
				return req, false, err
			}
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return req, false, err
		}
	}
	if err := clearDeadline(c, deadline); err != nil {
		return req, false, err
	}
	if !crlfOnly(hdr) {
		return req, false, nil
	}
	length, ok := parsePlain(hdr, &req)
	if !ok {
		return req, false, nil
	}
	if length > br.Size() { // also keeps the sum below from overflowing
		return req, false, nil
	}
	req.size = len(hdr) + 2 + length
	if req.size > br.Size() {
		return req, false, nil
	}
	buf, err := br.Peek(req.size)
	if err != nil {
		return req, false, err
	}
	req.body = buf[len(hdr)+2:]
	return req, true, nil
}

func clearDeadline(c net.Conn, set bool) error {
	if !set {
		return nil
	}
	return c.SetReadDeadline(time.Time{})
}

// crlfOnly reports whether every LF in b follows a CR.
func crlfOnly(b []byte) bool {
	for i := bytes.IndexByte(b, '\n'); i >= 0; {
		if i == 0 || b[i-1] != '\r' {
			return false
		}
		j := bytes.IndexByte(b[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return true
}

// parsePlain parses the request line and headers (hdr ends with the last
// header's CRLF) and returns the body's length. ok is false for anything
// but a plain operation.
func parsePlain(hdr []byte, req *plainRequest) (length int, ok bool) {
	line, rest, _ := bytes.Cut(hdr, []byte("\r\n"))
	method, line, _ := bytes.Cut(line, []byte(" "))
	target, proto, _ := bytes.Cut(line, []byte(" "))
	if string(proto) != "HTTP/1.1" {
		return 0, false
	}
	path, isKV := bytes.CutPrefix(target, []byte("/v1/kv/"))
	if !isKV {
		return 0, false
	}
	key, cas := bytes.CutSuffix(path, []byte("/cas"))
	switch {
	case string(method) == http.MethodGet && !cas:
		req.op = replica.OpRead
	case string(method) == http.MethodPut && !cas:
		req.op = replica.OpWrite
	case string(method) == http.MethodPost && cas:
		req.op = replica.OpCAS
	default:
		return 0, false
	}
	if !plainKey(key) {
		return 0, false
	}
	hosts, lengths := 0, 0
	length = -1
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(h, []byte(":"))
		if !found || !isToken(name) {
			return 0, false
		}
		value = bytes.Trim(value, " \t")
		for _, c := range value {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return 0, false
			}
		}
		switch {
		case equalFold(name, "Host"):
			hosts++
			if !plainHost(value) {
				return 0, false
			}
		case equalFold(name, "Content-Length"):
			lengths++
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || len(value) == 0 || value[0] < '0' || value[0] > '9' {
				return 0, false
			}
			length = n
		case equalFold(name, "Connection"):
			switch {
			case equalFold(value, "close"):
				req.close = true
			case !equalFold(value, "keep-alive"):
				return 0, false
			}
		case equalFold(name, "Client-Id"):
			if req.clientID != "" || len(value) == 0 {
				return 0, false
			}
			req.clientID = string(value)
		case equalFold(name, "Request-Seq"):
			if req.seq != "" || len(value) == 0 {
				return 0, false
			}
			req.seq = string(value)
		case equalFold(name, "Transfer-Encoding"), equalFold(name, "Expect"), equalFold(name, "Upgrade"),
			equalFold(name, "Trailer"), equalFold(name, "TE"):
			return 0, false
		}
	}
	if hosts != 1 || lengths > 1 {
		return 0, false
	}
	if req.op == replica.OpRead {
		if length > 0 {
			return 0, false
		}
		length = 0
	} else if length < 0 {
		return 0, false
	}
	req.key = string(key)
	return length, true
}

// plainKey: 1 to kv.MaxKeyLen unreserved characters, and not a dot
// segment (net/http cleans those paths). Anything else, percent-escapes
// included, is left to net/http's routing.
func plainKey(k []byte) bool {
	if len(k) == 0 || len(k) > kv.MaxKeyLen || string(k) == "." || string(k) == ".." {
		return false
	}
	for _, c := range k {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

func plainHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// isToken: an RFC 9110 token, what net/http accepts as a header name.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}

func equalFold[T []byte | string](b T, s string) bool {
	return len(b) == len(s) && bytes.EqualFold([]byte(b), []byte(s))
}

// appendResponseHead appends the status line and headers net/http would
// send for writeOp's answer, up to the Content-Length value, which
// appendContentLength fills in.
func appendResponseHead(b []byte, code int, closing bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nContent-Type: application/json\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	if closing {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\nContent-Length: "...)
}

// appendContentLength inserts the length of b[head:] and the blank line
// before it.
func appendContentLength(b []byte, head int) []byte {
	n := len(b) - head
	var num [24]byte
	ins := append(strconv.AppendInt(num[:0], int64(n), 10), "\r\n\r\n"...)
	b = append(b, ins...) // grow by len(ins)
	copy(b[head+len(ins):], b[head:head+n])
	copy(b[head:], ins)
	return b
}

// bufferedConn is a connection handed to net/http with what the front
// already buffered from it.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// CloseWrite lets net/http half-close before it closes (it answers a
// too-large body with 413, then waits for the client to read it).
func (c *bufferedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// chanListener gives net/http the connections the front hands off.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
