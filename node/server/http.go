package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/raftcheck/raftcheck/node/kv"
	"github.com/raftcheck/raftcheck/node/replica"
)

// The client API. Every answer to an operation is JSON with an "outcome":
//
//	200 ok    the operation took effect (a read: it saw "value")
//	409 fail  cas: the current value is not "from"; nothing changed
//	400, 404, 405, 413 fail  a bad request; nothing changed
//	503 fail  surely not applied (no leader, leadership unconfirmed): retry
//	504 info  may or may not have been applied (timed out after proposing,
//	          leader lost): retry with the same Client-Id and Request-Seq
//	          to make it take effect at most once
//
// "value": null means the key was never written.

const maxBody = 1 << 20

// opResponse is the body of every operation's answer.
type opResponse struct {
	Key     string `json:"key,omitempty"`
	Value   *int64 `json:"value"`
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	Leader  string `json:"leader,omitempty"`
}

type writeBody struct {
	Value *int64 `json:"value"`
}

type casBody struct {
	From *int64 `json:"from"`
	To   *int64 `json:"to"`
}

// errBadRequest wraps every client input error.
var errBadRequest = errors.New("bad request")

// decodeJSON decodes a body into v strictly: one JSON object, known
// fields only, nothing after it.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body: more than one JSON value", errBadRequest)
	}
	return nil
}

// DecodeWrite parses a PUT body: {"value": N}.
func DecodeWrite(body []byte) (int64, error) {
	var b writeBody
	if err := decodeJSON(body, &b); err != nil {
		return 0, err
	}
	if b.Value == nil {
		return 0, fmt.Errorf(`%w: body needs an integer "value"`, errBadRequest)
	}
	return *b.Value, nil
}

// DecodeCAS parses a cas body: {"from": N, "to": M}.
func DecodeCAS(body []byte) (from, to int64, err error) {
	var b casBody
	if err := decodeJSON(body, &b); err != nil {
		return 0, 0, err
	}
	if b.From == nil || b.To == nil {
		return 0, 0, fmt.Errorf(`%w: body needs integers "from" and "to"`, errBadRequest)
	}
	return *b.From, *b.To, nil
}

// DecodeSession parses the optional Client-Id and Request-Seq headers.
func DecodeSession(h http.Header) (string, uint64, error) {
	id, seqText := h.Get("Client-Id"), h.Get("Request-Seq")
	if id == "" && seqText == "" {
		return "", 0, nil
	}
	if id == "" || seqText == "" {
		return "", 0, fmt.Errorf("%w: Client-Id and Request-Seq go together", errBadRequest)
	}
	if len(id) > kv.MaxClientIDLen {
		return "", 0, fmt.Errorf("%w: Client-Id longer than %d bytes", errBadRequest, kv.MaxClientIDLen)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || seq == 0 {
		return "", 0, fmt.Errorf("%w: Request-Seq must be an integer > 0", errBadRequest)
	}
	return id, seq, nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/kv/{key}", s.handleRead)
	mux.HandleFunc("PUT /v1/kv/{key}", s.handleWrite)
	mux.HandleFunc("POST /v1/kv/{key}/cas", s.handleCAS)
	mux.HandleFunc("GET /v1/status", s.handleStatus)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, opResponse{Outcome: "fail",
			Error: fmt.Sprintf("no route %s %s; see GET /v1/kv/{key}, PUT /v1/kv/{key}, POST /v1/kv/{key}/cas, GET /v1/status, GET /metrics", r.Method, r.URL.Path)})
	})
	return mux
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	s.operate(w, r, func([]byte) (replica.Request, error) {
		return replica.Request{Op: replica.OpRead}, nil
	})
}

func (s *Server) handleWrite(w http.ResponseWriter, r *http.Request) {
	s.operate(w, r, func(body []byte) (replica.Request, error) {
		v, err := DecodeWrite(body)
		return replica.Request{Op: replica.OpWrite, Value: v}, err
	})
}

func (s *Server) handleCAS(w http.ResponseWriter, r *http.Request) {
	s.operate(w, r, func(body []byte) (replica.Request, error) {
		from, to, err := DecodeCAS(body)
		return replica.Request{Op: replica.OpCAS, From: from, To: to}, err
	})
}

// operate decodes, runs and answers one operation.
func (s *Server) operate(w http.ResponseWriter, r *http.Request, parse func([]byte) (replica.Request, error)) {
	start := time.Now()
	key := r.PathValue("key")
	fail := func(code int, err error) {
		writeJSON(w, code, opResponse{Key: key, Outcome: "fail", Error: err.Error()})
	}
	if len(key) > kv.MaxKeyLen {
		fail(http.StatusBadRequest, fmt.Errorf("key longer than %d bytes", kv.MaxKeyLen))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", maxBody))
			return
		}
		fail(http.StatusBadRequest, fmt.Errorf("reading body: %w", err))
		return
	}
	req, err := parse(body)
	if err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	req.Key = key
	if req.ClientID, req.Seq, err = DecodeSession(r.Header); err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	resp := s.do(r.Context(), req)
	s.metrics.observe(req.Op, resp.Outcome, time.Since(start))
	out := opResponse{Key: key, Outcome: resp.Outcome.String(), Error: resp.Reason, Leader: string(resp.Leader)}
	if resp.Present {
		v := resp.Value
		out.Value = &v
	}
	code := http.StatusOK
	switch {
	case resp.Outcome == replica.Fail && resp.CASMismatch:
		code = http.StatusConflict
	case resp.Outcome == replica.Fail:
		code = http.StatusServiceUnavailable
		out.Value = nil
	case resp.Outcome == replica.Info:
		code = http.StatusGatewayTimeout
		out.Value = nil
	}
	writeJSON(w, code, out)
}

// StatusBody is the answer of GET /v1/status.
type StatusBody struct {
	ID            string `json:"id"`
	Role          string `json:"role"`
	Term          uint64 `json:"term"`
	Leader        string `json:"leader"`
	Commit        uint64 `json:"commit"`
	Applied       uint64 `json:"applied"`
	LastIndex     uint64 `json:"last_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	st := s.Status()
	writeJSON(w, http.StatusOK, StatusBody{ID: string(st.ID), Role: st.Role, Term: st.Term,
		Leader: string(st.Leader), Commit: st.Commit, Applied: st.Applied,
		LastIndex: st.LastIndex, SnapshotIndex: st.SnapshotIndex})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serveHTTP() error {
	ln := s.cfg.ClientListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.ClientAddr); err != nil {
			return fmt.Errorf("listen for clients on %s: %w", s.cfg.ClientAddr, err)
		}
	}
	s.clientLn = ln
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("client API stopped", "err", err)
		}
	}()
	return nil
}

func (s *Server) shutdownHTTP() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
}
