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

// errBadRequest wraps every client input error.
var errBadRequest = errors.New("bad request")

// decodeFields decodes body, which must be exactly one JSON object whose
// members are all named in fields (matched case-sensitively, each at most
// once, each an integer or null) and nothing after it but whitespace.
// encoding/json alone is laxer: it matches names case-insensitively, lets
// a repeated name win silently, and dec.More does not notice a stray
// closing bracket after the value. A field absent or null stays nil.
func decodeFields(body []byte, fields map[string]**int64) error {
	dsts := make(map[string]any, len(fields))
	for name, dst := range fields {
		dsts[name] = dst
	}
	return decodeObject(body, dsts)
}

// decodeObject is decodeFields for fields of any type: each value of
// fields is a pointer to a pointer (**string, **bool, ...), left nil when
// the field is absent or null.
func decodeObject(body []byte, fields map[string]any) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: body: "+format, append([]any{errBadRequest}, args...)...)
	}
	syntax := func(err error) error {
		if errors.Is(err, io.EOF) {
			return bad("unexpected end of JSON input")
		}
		return bad("%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return syntax(err)
	}
	if tok != json.Delim('{') {
		if tok == nil {
			tok = "null"
		}
		return bad("want a JSON object, got %v", tok)
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntax(err)
		}
		name, _ := tok.(string) // inside an object, More then Token yields a name
		dst, ok := fields[name]
		if !ok {
			return bad("unknown field %q", name)
		}
		if seen[name] {
			return bad("field %q given twice", name)
		}
		seen[name] = true
		if err := dec.Decode(dst); err != nil {
			if errors.Is(err, io.EOF) {
				return syntax(err)
			}
			return bad("field %q: %v", name, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return syntax(err)
	}
	if rest := body[dec.InputOffset():]; len(bytes.Trim(rest, " \t\r\n")) > 0 {
		return bad("unexpected data after the JSON object")
	}
	return nil
}

// DecodeWrite parses a PUT body: {"value": N}.
func DecodeWrite(body []byte) (int64, error) {
	if v, ok := plainFields(body, "value"); ok {
		return v[0], nil
	}
	var value *int64
	if err := decodeFields(body, map[string]**int64{"value": &value}); err != nil {
		return 0, err
	}
	if value == nil {
		return 0, fmt.Errorf(`%w: body needs an integer "value"`, errBadRequest)
	}
	return *value, nil
}

// DecodeCAS parses a cas body: {"from": N, "to": M}.
func DecodeCAS(body []byte) (from, to int64, err error) {
	if v, ok := plainFields(body, "from", "to"); ok {
		return v[0], v[1], nil
	}
	var f, t *int64
	if err := decodeFields(body, map[string]**int64{"from": &f, "to": &t}); err != nil {
		return 0, 0, err
	}
	if f == nil || t == nil {
		return 0, 0, fmt.Errorf(`%w: body needs integers "from" and "to"`, errBadRequest)
	}
	return *f, *t, nil
}

// DecodeSession parses the optional Client-Id and Request-Seq headers.
func DecodeSession(h http.Header) (string, uint64, error) {
	return decodeSession(h.Get("Client-Id"), h.Get("Request-Seq"))
}

func decodeSession(id, seqText string) (string, uint64, error) {
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
	mux.HandleFunc("GET /v1/members", s.handleMembers)
	mux.HandleFunc("POST /v1/members", s.handleAddMember)
	mux.HandleFunc("POST /v1/members/{id}/promote", s.handlePromote)
	mux.HandleFunc("DELETE /v1/members/{id}", s.handleRemove)
	mux.HandleFunc("POST /v1/leader/transfer", s.handleTransfer)
	// The same paths without a method catch the other methods: 405 with
	// a JSON body (ServeMux's own 405 and 404 answers are plain text).
	for path, allow := range map[string]string{"/v1/kv/{key}": "GET, HEAD, PUT",
		"/v1/kv/{key}/cas": "POST", "/v1/status": "GET, HEAD", "/metrics": "GET, HEAD",
		"/v1/members": "GET, HEAD, POST", "/v1/members/{id}/promote": "POST",
		"/v1/members/{id}": "DELETE", "/v1/leader/transfer": "POST"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, opResponse{Key: r.PathValue("key"), Outcome: "fail",
				Error: fmt.Sprintf("method %s not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow)})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, opResponse{Outcome: "fail",
			Error: fmt.Sprintf("no route %s %s; %s", r.Method, r.URL.Path, routeList)})
	})
	return mux
}

const routeList = "see GET /v1/kv/{key}, PUT /v1/kv/{key}, POST /v1/kv/{key}/cas, GET /v1/status, GET /metrics, " +
	"GET /v1/members, POST /v1/members, POST /v1/members/{id}/promote, DELETE /v1/members/{id}, POST /v1/leader/transfer"

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	s.operate(w, r, replica.OpRead)
}

func (s *Server) handleWrite(w http.ResponseWriter, r *http.Request) {
	s.operate(w, r, replica.OpWrite)
}

func (s *Server) handleCAS(w http.ResponseWriter, r *http.Request) {
	s.operate(w, r, replica.OpCAS)
}

// operate decodes, runs and answers one operation.
func (s *Server) operate(w http.ResponseWriter, r *http.Request, op replica.Op) {
	start := time.Now()
	key := r.PathValue("key")
	if len(key) > kv.MaxKeyLen {
		writeOp(w, http.StatusBadRequest, opResponse{Key: key, Outcome: "fail", Error: errKeyTooLong.Error()})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeOp(w, http.StatusRequestEntityTooLarge, opResponse{Key: key, Outcome: "fail",
				Error: fmt.Sprintf("body over %d bytes", maxBody)})
			return
		}
		writeOp(w, http.StatusBadRequest, opResponse{Key: key, Outcome: "fail",
			Error: fmt.Errorf("reading body: %w", err).Error()})
		return
	}
	code, out := s.runOp(r.Context(), start, op, key, body, r.Header.Get("Client-Id"), r.Header.Get("Request-Seq"))
	writeOp(w, code, out)
}

var errKeyTooLong = fmt.Errorf("key longer than %d bytes", kv.MaxKeyLen)

// runOp checks, runs and answers one operation as both front ends
// (net/http and the plain path, front.go) receive it: the key, the
// whole body and the session headers' values.
func (s *Server) runOp(ctx context.Context, start time.Time, op replica.Op, key string, body []byte,
	clientID, seq string) (int, opResponse) {
	req, code, bad := prepareOp(op, key, body, clientID, seq)
	if code != 0 {
		return code, bad
	}
	return s.opAnswer(req, start, s.do(ctx, req))
}

// prepareOp decodes an operation. A non-zero code means it is malformed,
// and the opResponse is the answer.
func prepareOp(op replica.Op, key string, body []byte, clientID, seq string) (replica.Request, int, opResponse) {
	fail := func(err error) (replica.Request, int, opResponse) {
		return replica.Request{}, http.StatusBadRequest, opResponse{Key: key, Outcome: "fail", Error: err.Error()}
	}
	if len(key) > kv.MaxKeyLen {
		return fail(errKeyTooLong)
	}
	req := replica.Request{Op: op, Key: key}
	var err error
	switch op {
	case replica.OpWrite:
		req.Value, err = DecodeWrite(body)
	case replica.OpCAS:
		req.From, req.To, err = DecodeCAS(body)
	}
	if err != nil {
		return fail(err)
	}
	if req.ClientID, req.Seq, err = decodeSession(clientID, seq); err != nil {
		return fail(err)
	}
	return req, 0, opResponse{}
}

// opAnswer turns the replica's response to req into the HTTP answer, and
// counts it in the metrics.
func (s *Server) opAnswer(req replica.Request, start time.Time, resp replica.Response) (int, opResponse) {
	s.metrics.observe(req.Op, resp.Outcome, time.Since(start))
	out := opResponse{Key: req.Key, Outcome: resp.Outcome.String(), Error: resp.Reason, Leader: string(resp.Leader)}
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
	return code, out
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
	// Voters and Learners: the configuration in force on this node (the
	// latest in its log); empty on a joining node that has not learned one.
	Voters   []string `json:"voters"`
	Learners []string `json:"learners"`
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	st := s.Status()
	writeJSON(w, http.StatusOK, StatusBody{ID: string(st.ID), Role: st.Role, Term: st.Term,
		Leader: string(st.Leader), Commit: st.Commit, Applied: st.Applied,
		LastIndex: st.LastIndex, SnapshotIndex: st.SnapshotIndex,
		Voters: idStrings(st.Voters), Learners: idStrings(st.Learners)})
}

func writeOp(w http.ResponseWriter, code int, out opResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(appendOpResponse(nil, out))
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
	s.front = newFront(s, ln)
	go func() {
		if err := s.http.Serve(s.front.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("client API stopped", "err", err)
		}
	}()
	s.front.start()
	return nil
}

func (s *Server) shutdownHTTP() {
	s.front.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
}
