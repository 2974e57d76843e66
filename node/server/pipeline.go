package server

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/raftcheck/raftcheck/node/replica"
)

// HTTP/1.1 lets a client send requests without waiting for the answers
// before them (pipelining, RFC 9112 §9.3.2), and the answers must come
// back in order. The front submits a connection's pipelined operations to
// the event loop as they arrive and a responder goroutine writes the
// answers in order, as many as are ready in one write. A connection shared
// by many waiting clients then costs a few system calls per batch instead
// of a read and a write per operation.
//
// The RFC allows parallel processing only of safe requests. The front
// keeps every connection sequential in effect: reads may overlap reads
// (they change nothing), and writes may overlap writes, because the loop
// proposes them in arrival order and Raft commits a log prefix, so the
// later of two commits only if the earlier does. A read never overlaps a
// write: a request of the other kind waits until everything before it is
// answered, so a read sees every write sent before it and none after.

// maxPipelined bounds the operations in flight on one connection; past it
// the front stops reading the connection until answers go out.
const maxPipelined = 256

// pipelined is one operation in flight on a connection.
type pipelined struct {
	req      replica.Request
	start    time.Time
	deadline time.Time
	close    bool
	call     clientCall
	// code and answer are set when the front answers without the loop (a
	// malformed request, or one the loop could not take).
	code   int
	answer opResponse
	// resp, once ready, is the loop's response.
	resp  replica.Response
	ready bool
}

// pipeline is a connection's queue of operations and its responder.
type pipeline struct {
	f     *front
	c     net.Conn
	queue chan *pipelined
	// answered counts the operations whose answer was written (or
	// dropped, once the connection broke); notify wakes the reader
	// waiting for it.
	answered atomic.Uint64
	notify   chan struct{}
	broken   atomic.Bool
	done     chan struct{}

	// The reader's side.
	submitted uint64
	reads     bool // what the operations in flight are
}

func newPipeline(f *front, c net.Conn) *pipeline {
	p := &pipeline{f: f, c: c, queue: make(chan *pipelined, maxPipelined),
		notify: make(chan struct{}, 1), done: make(chan struct{})}
	go p.respond()
	return p
}

// admit waits until an operation of kind read may join those in flight:
// false if the connection broke or the front is closing.
func (p *pipeline) admit(read bool) bool {
	if p.submitted > p.answered.Load() && p.reads != read {
		if !p.wait() {
			return false
		}
	}
	p.reads = read
	return !p.broken.Load()
}

// wait waits until every operation submitted is answered.
func (p *pipeline) wait() bool {
	for p.submitted > p.answered.Load() {
		select {
		case <-p.notify:
		case <-p.done:
			return false
		case <-p.f.ctx.Done():
			return false
		}
	}
	return !p.broken.Load()
}

// push queues an operation (submitted to the loop, or already answered).
func (p *pipeline) push(op *pipelined) {
	if p.submitted > p.answered.Load() {
		p.f.overlapped.Add(1)
	}
	p.submitted++
	p.queue <- op
}

// finish stops the responder once it has written what is queued, and
// waits for it.
func (p *pipeline) finish() {
	close(p.queue)
	<-p.done
}

// respond writes the answers in order, coalescing those already ready.
func (p *pipeline) respond() {
	defer close(p.done)
	var (
		out   []byte
		held  *pipelined
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for {
		op := held
		held = nil
		if op == nil {
			var ok bool
			if op, ok = <-p.queue; !ok {
				return
			}
		}
		p.await(op, timer)
		out = p.appendAnswer(out[:0], op)
		n, closing := uint64(1), op.close
	batch:
		for !closing && len(out) < frontBufSize {
			select {
			case next, ok := <-p.queue:
				if !ok {
					break batch
				}
				if !p.poll(next) {
					held = next
					break batch
				}
				out = p.appendAnswer(out, next)
				n++
				closing = next.close
			default:
				break batch
			}
		}
		if !p.broken.Load() {
			if _, err := p.c.Write(out); err != nil || closing {
				// Unblock the reader; it sees the break and stops.
				p.broken.Store(true)
				_ = p.c.Close()
			}
		}
		p.answered.Add(n)
		select {
		case p.notify <- struct{}{}:
		default:
		}
		if cap(out) > 4*frontBufSize {
			out = nil
		}
	}
}

// poll reports whether op's answer is ready, without waiting.
func (p *pipeline) poll(op *pipelined) bool {
	if op.code != 0 || op.ready {
		return true
	}
	select {
	case op.resp = <-op.call.done:
		op.ready = true
	default:
	}
	return op.ready
}

// await waits for op's answer until its deadline.
func (p *pipeline) await(op *pipelined, timer *time.Timer) {
	if p.poll(op) {
		return
	}
	timer.Reset(time.Until(op.deadline))
	op.resp, op.ready = p.f.s.await(p.f.ctx, op.call, timer.C), true
	timer.Stop()
}

func (p *pipeline) appendAnswer(out []byte, op *pipelined) []byte {
	code, answer := op.code, op.answer
	if code == 0 {
		code, answer = p.f.s.opAnswer(op.req, op.start, op.resp)
	}
	out = appendResponseHead(out, code, op.close)
	head := len(out)
	out = appendOpResponse(out, answer)
	return appendContentLength(out, head)
}
