package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/node/replica"
	"github.com/raftcheck/raftcheck/workload"
)

// Invoke sends one attempt of op to node over the simulated network and
// parks the calling process until the answer arrives or timeout passes.
func (s *Simulator) Invoke(ctx context.Context, node string, op workload.Op, sess workload.Session, timeout time.Duration) workload.Result {
	if err := ctx.Err(); err != nil {
		return workload.Result{Outcome: workload.Fail, Err: err}
	}
	n, err := s.lookup(node)
	if err != nil {
		return workload.Result{Outcome: workload.Fail, Err: err}
	}
	p := s.rt.self()
	var res workload.Result
	answered := false
	answer := func(r workload.Result) {
		if !answered {
			answered, res = true, r
			s.rt.wake(p)
		}
	}
	req := request(op, sess)
	s.clock.after(s.net.latency(), func() {
		if !n.up {
			// Connection refused: the node surely did not see it.
			s.clock.after(s.net.latency(), func() {
				answer(workload.Result{Outcome: workload.Fail, Err: fmt.Errorf("%s is down", n.id)})
			})
			return
		}
		n.whenRunning(func() {
			n.rep.Submit(req, func(resp replica.Response) {
				s.clock.after(s.net.latency(), func() { answer(toResult(resp)) })
			})
			n.process()
		})
	})
	s.clock.after(int64(timeout), func() {
		if !answered { // most attempts are, long before: no error to make
			answer(workload.Result{Outcome: workload.Info, Err: errors.New("timed out")})
		}
	})
	s.rt.park(p)
	return res
}

func request(op workload.Op, sess workload.Session) replica.Request {
	r := replica.Request{Key: op.Key}
	switch op.F {
	case checker.Read:
		r.Op = replica.OpRead
		return r
	case checker.Write:
		r.Op, r.Value = replica.OpWrite, op.Value
	default:
		r.Op, r.From, r.To = replica.OpCAS, op.From, op.To
	}
	r.ClientID, r.Seq = sess.ClientID, sess.Seq
	return r
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

// Status is the node's own view, as GET /v1/status would give it; a node
// that is down or paused does not answer.
func (s *Simulator) Status(_ context.Context, node string) (harness.NodeStatus, error) {
	n, err := s.lookup(node)
	if err != nil {
		return harness.NodeStatus{}, err
	}
	st, ok := n.status()
	if !ok {
		return st, fmt.Errorf("%s does not answer (down or paused)", node)
	}
	return st, nil
}
