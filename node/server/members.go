package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/raftcheck/raftcheck/node/kv"
	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/replica"
)

// The membership API. Answers are JSON; errors {"error": "..."} with the
// leader's ID when this node is not the leader. Any node accepts a
// request: a follower forwards it to the leader's client address (which
// the leader advertised when it connected to us) and relays the answer.
//
//	200  done: the change is committed (a transfer: the target leads)
//	400  bad body, removing the last voter, transfer to a non-voter
//	404  no such member
//	409  a change is in progress, the member exists, the ID was removed
//	503  not the leader (retry at "leader"), or surely not done: retry
//	504  timed out: the change may still take effect

// memberJSON is one member in GET /v1/members.
type memberJSON struct {
	ID       string `json:"id"`
	PeerAddr string `json:"peer_addr"`
}

// MembersBody is the answer of GET /v1/members and of a change.
type MembersBody struct {
	Voters   []memberJSON `json:"voters"`
	Learners []memberJSON `json:"learners"`
	Removed  []string     `json:"removed"`
	// Index is the committed conf entry's log index (changes only).
	Index uint64 `json:"index,omitempty"`
}

// errorBody is a membership error.
type errorBody struct {
	Error  string `json:"error"`
	Leader string `json:"leader,omitempty"`
}

// inLoop runs f on the event loop, which owns the replica, and waits for
// it; f answers through its own channel.
func (s *Server) inLoop(ctx context.Context, f func(*replica.Replica)) error {
	select {
	case s.calls <- f:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) members(ctx context.Context) (replica.Members, error) {
	ch := make(chan replica.Members, 1)
	if err := s.inLoop(ctx, func(r *replica.Replica) { ch <- r.Members() }); err != nil {
		return replica.Members{}, err
	}
	select {
	case m := <-ch:
		return m, nil
	case <-ctx.Done():
		return replica.Members{}, ctx.Err()
	}
}

func membersBody(m replica.Members) MembersBody {
	conv := func(ms []replica.Member) []memberJSON {
		out := make([]memberJSON, 0, len(ms))
		for _, x := range ms {
			out = append(out, memberJSON{ID: string(x.ID), PeerAddr: x.Addr})
		}
		return out
	}
	return MembersBody{Voters: conv(m.Voters), Learners: conv(m.Learners), Removed: idStrings(m.Removed)}
}

func idStrings(ids []raft.NodeID) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, string(id))
	}
	return out
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	m, err := s.members(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "node busy: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, membersBody(m))
}

// DecodeAddMember parses a POST /v1/members body:
// {"id": "n6", "peer_addr": "host:port", "learner": true}. "learner"
// may be omitted; false is refused, since a node joins as a learner and
// is promoted once it has caught up.
func DecodeAddMember(body []byte) (raft.ConfChange, error) {
	var id, addr *string
	var learner *bool
	if err := decodeObject(body, map[string]any{"id": &id, "peer_addr": &addr, "learner": &learner}); err != nil {
		return raft.ConfChange{}, err
	}
	switch {
	case id == nil || *id == "" || len(*id) > replica.MaxMemberIDLen:
		return raft.ConfChange{}, fmt.Errorf(`%w: body needs an "id" of 1 to %d bytes`, errBadRequest, replica.MaxMemberIDLen)
	case addr == nil || *addr == "" || len(*addr) > kv.MaxAddrLen:
		return raft.ConfChange{}, fmt.Errorf(`%w: body needs a "peer_addr" of 1 to %d bytes`, errBadRequest, kv.MaxAddrLen)
	case learner != nil && !*learner:
		return raft.ConfChange{}, fmt.Errorf(`%w: members join as learners ("learner": true); promote once caught up`, errBadRequest)
	}
	return raft.ConfChange{Type: raft.ConfAddLearner, Node: raft.NodeID(*id), Context: []byte(*addr)}, nil
}

// DecodeTransfer parses a POST /v1/leader/transfer body: {"to": "n2"}.
func DecodeTransfer(body []byte) (raft.NodeID, error) {
	var to *string
	if err := decodeObject(body, map[string]any{"to": &to}); err != nil {
		return "", err
	}
	if to == nil || *to == "" || len(*to) > replica.MaxMemberIDLen {
		return "", fmt.Errorf(`%w: body needs a "to" of 1 to %d bytes`, errBadRequest, replica.MaxMemberIDLen)
	}
	return raft.NodeID(*to), nil
}

// readBody reads a request body of at most maxBody bytes, answering the
// error itself.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("body over %d bytes", maxBody)})
		} else {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "reading body: " + err.Error()})
		}
		return nil, false
	}
	return body, true
}

func (s *Server) handleAddMember(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	cc, err := DecodeAddMember(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	s.change(w, r, cc, body)
}

func (s *Server) handlePromote(w http.ResponseWriter, r *http.Request) {
	if body, ok := readBody(w, r); !ok {
		return
	} else if len(body) > 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "bad request: promote takes no body"})
		return
	}
	s.change(w, r, raft.ConfChange{Type: raft.ConfPromote, Node: raft.NodeID(r.PathValue("id"))}, nil)
}

func (s *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	if body, ok := readBody(w, r); !ok {
		return
	} else if len(body) > 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "bad request: remove takes no body"})
		return
	}
	s.change(w, r, raft.ConfChange{Type: raft.ConfRemove, Node: raft.NodeID(r.PathValue("id"))}, nil)
}

// change runs one membership change through the event loop and answers
// once it is committed or failed. On a follower it is forwarded to the
// leader (body is the request's, to send on).
func (s *Server) change(w http.ResponseWriter, r *http.Request, cc raft.ConfChange, body []byte) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout+s.cfg.Tick)
	defer cancel()
	ch := make(chan replica.MembershipResponse, 1)
	if err := s.inLoop(ctx, func(rep *replica.Replica) {
		rep.ChangeMembership(cc, func(resp replica.MembershipResponse) { ch <- resp })
	}); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "node busy: change not submitted"})
		return
	}
	var resp replica.MembershipResponse
	select {
	case resp = <-ch:
	case <-ctx.Done():
		writeJSON(w, http.StatusGatewayTimeout, errorBody{Error: replica.ErrOutcomeUnknown.Error()})
		return
	}
	if resp.Err != nil {
		if errors.Is(resp.Err, replica.ErrNotLeader) && s.forward(w, r, body, resp.Leader) {
			return
		}
		writeJSON(w, membershipCode(resp.Err), errorBody{Error: resp.Err.Error(), Leader: string(resp.Leader)})
		return
	}
	s.metrics.confChanges.WithLabelValues(cc.Type.String()).Inc()
	m, err := s.members(ctx)
	if err != nil {
		// Committed all the same; only the listing is missing.
		writeJSON(w, http.StatusOK, MembersBody{Index: resp.Index})
		return
	}
	out := membersBody(m)
	out.Index = resp.Index
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	to, err := DecodeTransfer(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout+s.cfg.Tick)
	defer cancel()
	ch := make(chan error, 1)
	if err := s.inLoop(ctx, func(rep *replica.Replica) {
		rep.TransferLeadership(to, func(err error) { ch <- err })
	}); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "node busy: transfer not submitted"})
		return
	}
	select {
	case err = <-ch:
	case <-ctx.Done():
		writeJSON(w, http.StatusGatewayTimeout, errorBody{Error: "timed out; check /v1/status for the leader"})
		return
	}
	if err != nil {
		leader := s.Status().Leader
		if errors.Is(err, replica.ErrNotLeader) && s.forward(w, r, body, leader) {
			return
		}
		writeJSON(w, membershipCode(err), errorBody{Error: err.Error(), Leader: string(leader)})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Leader string `json:"leader"`
	}{string(to)})
}

// forwardedHeader marks a request a follower sent on to its leader; the
// receiver answers it itself, so a stale idea of the leader cannot make
// requests bounce between nodes.
const forwardedHeader = "Raftnode-Forwarded-By"

// forward sends a leader-only request on to the leader, whose client
// address the transport learned when the leader connected to us, and
// relays the answer. It reports false, having written nothing, when it
// cannot (no known leader or address, or the request was forwarded
// already): the caller then answers 503 naming the leader.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, body []byte, leader raft.NodeID) bool {
	if leader == raft.None || leader == s.cfg.ID || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	addr, ok := s.transport.ClientAddr(leader)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout+time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set(forwardedHeader, string(s.cfg.ID))
	if len(body) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.forwarder.Do(req)
	if err != nil {
		// The leader may have received it: the change may take effect.
		writeJSON(w, http.StatusGatewayTimeout, errorBody{Leader: string(leader),
			Error: fmt.Sprintf("forwarded to the leader %s at %s: %v; the change may still take effect", leader, addr, err)})
		return true
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusGatewayTimeout, errorBody{Leader: string(leader),
			Error: fmt.Sprintf("reading the answer of the leader %s: %v; the change may have taken effect", leader, err)})
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(forwardedHeader, string(leader))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
	return true
}

// membershipCode maps the replica's membership errors to HTTP.
func membershipCode(err error) int {
	switch {
	case errors.Is(err, replica.ErrBadChange), errors.Is(err, replica.ErrLastVoter), errors.Is(err, replica.ErrNotVoter):
		return http.StatusBadRequest
	case errors.Is(err, replica.ErrUnknownMember):
		return http.StatusNotFound
	case errors.Is(err, replica.ErrChangeInProgress), errors.Is(err, replica.ErrMemberExists), errors.Is(err, replica.ErrIDReused):
		return http.StatusConflict
	case errors.Is(err, replica.ErrOutcomeUnknown):
		return http.StatusGatewayTimeout
	}
	return http.StatusServiceUnavailable // ErrNotLeader, ErrAborted
}
