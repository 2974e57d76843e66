package sim

import (
	"github.com/raftcheck/raftcheck/harness"

	"fmt"
	"math/rand/v2"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/workload"
)

// client is one simulated client process: it invokes an operation, waits
// for the answer or its timeout, retries an indefinite write with the same
// session at another node, records the outcome, thinks, and goes on.
type client struct {
	s       *Simulator
	slot    int
	process int
	rng     *rand.Rand
	// The operation in flight.
	op        workload.Op
	busy      bool
	seq       uint64
	attempt   int
	attemptID uint64
	// final clients read one key after the faults, then stop.
	final    bool
	finalTry int
}

func (s *Simulator) startClients() {
	for slot := range s.cfg.Concurrency {
		c := &client{s: s, slot: slot, process: slot, rng: harness.Stream(s.cfg.Seed, fmt.Sprintf("client/%d", slot))}
		s.clients = append(s.clients, c)
		s.clock.after(c.think(), c.invoke)
	}
	s.nextProcess = s.cfg.Concurrency
}

// think is the pause before the next operation: exponential, so that all
// clients together make Rate operations per second.
func (c *client) think() int64 {
	mean := float64(c.s.cfg.Concurrency) / c.s.cfg.Rate * float64(time.Second)
	return int64(c.rng.ExpFloat64() * mean)
}

func (c *client) invoke() {
	if c.s.stopClients && !c.final {
		return
	}
	if !c.final {
		c.op = c.s.gen.Next()
	}
	c.busy, c.attempt = true, 0
	c.seq++
	c.s.rec.Invoke(c.process, c.op)
	c.send()
}

func (c *client) request() replica.Request {
	r := replica.Request{Key: c.op.Key}
	switch c.op.F {
	case checker.Read:
		r.Op = replica.OpRead
		return r
	case checker.Write:
		r.Op, r.Value = replica.OpWrite, c.op.Value
	default:
		r.Op, r.From, r.To = replica.OpCAS, c.op.From, c.op.To
	}
	r.ClientID, r.Seq = fmt.Sprintf("p%d", c.process), c.seq
	return r
}

// send makes one attempt, at the client's own node first and the next
// ones on retries.
func (c *client) send() {
	s := c.s
	c.attemptID++
	id := c.attemptID
	n := s.nodes[(c.slot+c.attempt)%len(s.nodes)]
	req := c.request()
	s.clock.after(s.net.latency(), func() {
		if !n.up {
			// Connection refused: the node surely did not see it.
			s.clock.after(s.net.latency(), func() {
				c.answer(id, workload.Result{Outcome: workload.Fail, Err: fmt.Errorf("%s is down", n.id)})
			})
			return
		}
		n.whenRunning(func() {
			n.rep.Submit(req, func(resp replica.Response) {
				s.clock.after(s.net.latency(), func() { c.answer(id, toResult(resp)) })
			})
			n.process()
		})
	})
	s.clock.after(int64(s.cfg.ClientTimeout), func() {
		c.answer(id, workload.Result{Outcome: workload.Info, Err: fmt.Errorf("timed out")})
	})
}

func toResult(r replica.Response) workload.Result {
	out := workload.Result{Value: r.Value, Present: r.Present, Mismatch: r.CASMismatch}
	switch r.Outcome {
	case replica.OK:
		out.Outcome = workload.OK
	case replica.Fail:
		out.Outcome = workload.Fail
	default:
		out.Outcome = workload.Info
	}
	return out
}

// answer handles the end of attempt id, ignoring stale attempts.
func (c *client) answer(id uint64, res workload.Result) {
	if !c.busy || id != c.attemptID {
		return
	}
	if c.op.F == checker.Read {
		// A read has no effect, so an unanswered one surely did nothing.
		if res.Outcome == workload.Info {
			res.Outcome = workload.Fail
		}
		c.complete(res)
		return
	}
	final, again := workload.Settle(c.attempt, res)
	if again && c.attempt < c.s.cfg.Retries {
		c.attempt++
		c.send()
		return
	}
	c.complete(final)
}

func (c *client) complete(res workload.Result) {
	c.busy = false
	c.attemptID++ // any timer or answer still on its way is now stale
	c.s.rec.Complete(c.process, c.op, res)
	if res.Outcome == workload.Info {
		// Jepsen's rule: a process with an operation of unknown outcome
		// never invokes again; a fresh one takes its place.
		c.process = c.s.nextProcess
		c.s.nextProcess++
		c.seq = 0
	}
	if c.final {
		if res.Outcome != workload.OK && c.finalTry < 5 {
			c.finalTry++
			c.s.clock.after(int64(500*time.Millisecond), c.invoke)
		}
		return
	}
	c.s.clock.after(c.think(), c.invoke)
}

// finalReads reads every key once the cluster has healed.
func (s *Simulator) finalReads() {
	for i, key := range s.gen.Keys() {
		c := &client{s: s, slot: i, process: s.nextProcess, final: true,
			op: workload.Op{F: checker.Read, Key: key}}
		s.nextProcess++
		s.clock.after(int64(i)*int64(time.Millisecond), c.invoke)
	}
}
