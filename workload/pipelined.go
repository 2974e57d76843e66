package workload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

var _ Client = (*PipelinedClient)(nil)

// PipelinedClient is a RaftnodeClient for many concurrent workers over a
// few connections, as etcd's gRPC clients share theirs: each connection
// carries the requests of every worker using it, HTTP/1.1 pipelined,
// written together when several wait, and reads the answers in order. The
// node runs a connection's reads together and its writes together but
// never a read beside a write (it keeps each connection sequential in
// effect), so reads and mutations travel on separate connections.
//
// A request whose answer is lost with its connection ends as an
// unanswered request does with RaftnodeClient: info for a mutation, fail
// for a read; one that never reached a connection fails.
type PipelinedClient struct {
	addr          string
	reads, writes []*pipeConn
	next          atomic.Uint64
}

// NewPipelinedClient returns a client for the node whose client API is at
// addr (host:port), with conns connections for reads and conns for
// mutations, opened on first use.
func NewPipelinedClient(addr string, conns int) *PipelinedClient {
	c := &PipelinedClient{addr: addr}
	for range max(conns, 1) {
		c.reads = append(c.reads, &pipeConn{addr: addr})
		c.writes = append(c.writes, &pipeConn{addr: addr})
	}
	return c
}

// PerKind is how many connections of each kind (reads, writes) a total
// of n gives NewPipelinedClient: half each, rounded up.
func PerKind(n int) int { return max(1, (n+1)/2) }

// Close closes the connections; operations in flight end as if the node
// had gone away.
func (c *PipelinedClient) Close() {
	for _, pc := range append(c.reads, c.writes...) {
		pc.close()
	}
}

// Read reads key.
func (c *PipelinedClient) Read(ctx context.Context, key string) Result {
	return c.call(ctx, http.MethodGet, "/v1/kv/"+key, nil, Session{}, false)
}

// Write sets key to v.
func (c *PipelinedClient) Write(ctx context.Context, key string, v int64, s Session) Result {
	return c.call(ctx, http.MethodPut, "/v1/kv/"+key, writeBody(v), s, true)
}

// CAS sets key to to if it holds from.
func (c *PipelinedClient) CAS(ctx context.Context, key string, from, to int64, s Session) Result {
	return c.call(ctx, http.MethodPost, "/v1/kv/"+key+"/cas", casBody(from, to), s, true)
}

func (c *PipelinedClient) call(ctx context.Context, method, path string, body []byte, s Session, mutates bool) Result {
	conns := c.reads
	if mutates {
		conns = c.writes
	}
	pc := conns[c.next.Add(1)%uint64(len(conns))]
	req := appendRequest(nil, method, c.addr, path, body, s)
	call := &pipeCall{mutates: mutates, done: make(chan Result, 1)}
	conn, err := pc.send(req, call)
	if err != nil {
		return Result{Outcome: Fail, Err: err}
	}
	select {
	case r := <-call.done:
		return r
	case <-ctx.Done():
		// As net/http does with a cancelled request: the connection goes.
		// Answers come in order, so one the node never gives (a write
		// forwarded to a leader that died) would hold back every request
		// behind it; the others end indefinite and the next call redials.
		conn.fail(fmt.Errorf("a request on it was abandoned: %w", ctx.Err()))
		return indefinite(ctx.Err(), mutates)
	}
}

func appendRequest(b []byte, method, host, path string, body []byte, s Session) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	if s.ClientID != "" {
		b = append(b, "\r\nClient-Id: "...)
		b = append(b, s.ClientID...)
		b = append(b, "\r\nRequest-Seq: "...)
		b = strconv.AppendUint(b, s.Seq, 10)
	}
	if body != nil {
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

// pipeCall is a request waiting for its answer.
type pipeCall struct {
	mutates bool
	done    chan Result
}

// maxInFlight bounds the requests waiting on one connection.
const maxInFlight = 1024

// pipeConn is one connection slot; it redials after its connection breaks.
type pipeConn struct {
	addr string

	mu  sync.Mutex
	cur *pipeSession
}

// pipeSession is one TCP connection: requests queue in out and are
// written by whichever sender finds no write in progress; waiting lists
// them in the order they were written, for the reader.
type pipeSession struct {
	c       net.Conn
	waiting chan *pipeCall

	mu      sync.Mutex // guards out, writing, dead
	out     []byte
	writing bool
	dead    error
}

// send queues req on the current connection, dialling one if needed, and
// returns the connection.
func (pc *pipeConn) send(req []byte, call *pipeCall) (*pipeSession, error) {
	pc.mu.Lock()
	s := pc.cur
	if s == nil || s.failed() != nil {
		c, err := net.DialTimeout("tcp", pc.addr, time.Second)
		if err != nil {
			pc.mu.Unlock()
			return nil, err
		}
		s = &pipeSession{c: c, waiting: make(chan *pipeCall, maxInFlight)}
		pc.cur = s
		go s.readAnswers()
	}
	pc.mu.Unlock()
	return s, s.send(req, call)
}

func (pc *pipeConn) close() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.cur != nil {
		pc.cur.fail(net.ErrClosed)
	}
}

func (s *pipeSession) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// send appends req to the pending bytes; the first sender to find no
// write in progress writes everything pending, including what others add
// meanwhile.
func (s *pipeSession) send(req []byte, call *pipeCall) error {
	s.mu.Lock()
	if s.dead != nil {
		s.mu.Unlock()
		return fmt.Errorf("connection to %s: %w", s.c.RemoteAddr(), s.dead)
	}
	// In the write order: under mu, with the bytes.
	select {
	case s.waiting <- call:
	default:
		s.mu.Unlock()
		return fmt.Errorf("connection to %s: %d requests already waiting", s.c.RemoteAddr(), maxInFlight)
	}
	s.out = append(s.out, req...)
	if s.writing {
		s.mu.Unlock()
		return nil
	}
	s.writing = true
	var buf []byte
	for len(s.out) > 0 && s.dead == nil {
		buf, s.out = s.out, buf[:0]
		s.mu.Unlock()
		_, err := s.c.Write(buf)
		s.mu.Lock()
		if err != nil {
			s.writing = false
			s.mu.Unlock()
			s.fail(err)
			return nil // the reader answers every waiting call
		}
	}
	s.writing = false
	s.mu.Unlock()
	return nil
}

// fail closes the connection once; the reader then ends every call still
// waiting.
func (s *pipeSession) fail(err error) {
	s.mu.Lock()
	if s.dead == nil {
		s.dead = err
		_ = s.c.Close()
	}
	s.mu.Unlock()
}

// readAnswers hands each answer to the call waiting first. When the
// connection ends, calls still waiting get an indefinite result.
func (s *pipeSession) readAnswers() {
	br := bufio.NewReaderSize(s.c, 16<<10)
	var err error
	for err == nil {
		var resp *http.Response
		if resp, err = http.ReadResponse(br, nil); err != nil {
			break
		}
		var body []byte
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		select {
		case call := <-s.waiting:
			if err != nil {
				call.done <- indefinite(fmt.Errorf("reading answer: %w", err), call.mutates)
			} else {
				call.done <- interpret(resp.StatusCode, body, call.mutates)
			}
		default:
			err = errors.New("an answer to no request")
		}
		if err == nil && resp.Close {
			err = errors.New("the node closed the connection")
		}
	}
	// No call joins waiting once dead is set: send checks it under mu.
	s.fail(err)
	for {
		select {
		case call := <-s.waiting:
			call.done <- indefinite(fmt.Errorf("connection to %s lost: %w", s.c.RemoteAddr(), err), call.mutates)
		default:
			return
		}
	}
}
