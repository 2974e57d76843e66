// Package workload generates client operations and runs them against a
// system under test, recording what happened.
package workload

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
)

// Outcome is Jepsen's completion type of an operation.
type Outcome string

const (
	OK   Outcome = "ok"   // took effect
	Fail Outcome = "fail" // surely did not take effect
	Info Outcome = "info" // may or may not have taken effect
)

// Result is what a client learned about one operation.
type Result struct {
	Outcome Outcome
	// Value is the value read (Present false: never written), or for a
	// cas that did not match, the value found.
	Value   int64
	Present bool
	// Mismatch marks the fail of a cas whose expected value differed: a
	// definite answer about the operation even on a retry.
	Mismatch bool
	// Err explains a fail or info.
	Err error
}

// Client performs register operations against one node of a system
// under test, mapping every way an operation can end to an Outcome.
type Client interface {
	Read(ctx context.Context, key string) Result
	Write(ctx context.Context, key string, v int64, s Session) Result
	CAS(ctx context.Context, key string, from, to int64, s Session) Result
}

var _ Client = (*RaftnodeClient)(nil)

// RaftnodeClient talks to one raftnode's client API. It is safe for
// concurrent use; each logical client (process) should use its own
// ClientID so the node can deduplicate its retries.
type RaftnodeClient struct {
	base string
	http *http.Client
}

// NewHTTPClient returns an HTTP client sized for many concurrent
// workers: Go's default keeps only two idle connections per host, which
// would make latency measure TCP handshakes.
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 4,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns * 2,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// NewRaftnodeClient returns a client for the node whose client API is at
// addr (host:port).
func NewRaftnodeClient(addr string, hc *http.Client) *RaftnodeClient {
	return &RaftnodeClient{base: "http://" + addr, http: hc}
}

// Session identifies a request for exactly-once retries; zero: none.
type Session struct {
	ClientID string
	Seq      uint64
}

// Read reads key.
func (c *RaftnodeClient) Read(ctx context.Context, key string) Result {
	return c.call(ctx, http.MethodGet, "/v1/kv/"+key, nil, Session{}, false)
}

// Write sets key to v.
func (c *RaftnodeClient) Write(ctx context.Context, key string, v int64, s Session) Result {
	return c.call(ctx, http.MethodPut, "/v1/kv/"+key, writeBody(v), s, true)
}

// CAS sets key to to if it holds from.
func (c *RaftnodeClient) CAS(ctx context.Context, key string, from, to int64, s Session) Result {
	return c.call(ctx, http.MethodPost, "/v1/kv/"+key+"/cas", casBody(from, to), s, true)
}

// writeBody and casBody are the JSON bodies of a write and a cas.
func writeBody(v int64) []byte {
	return append(strconv.AppendInt([]byte(`{"value":`), v, 10), '}')
}

func casBody(from, to int64) []byte {
	b := strconv.AppendInt([]byte(`{"from":`), from, 10)
	return append(strconv.AppendInt(append(b, `,"to":`...), to, 10), '}')
}

type answer struct {
	Value   *int64 `json:"value"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
}

// call maps every way a request can end to an outcome. The rule: once the
// request may have reached the node, a mutation without a definite answer
// is info; only an answer from the node can say fail.
func (c *RaftnodeClient) call(ctx context.Context, method, path string, body []byte, s Session, mutates bool) Result {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: Fail, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.ClientID != "" {
		req.Header.Set("Client-Id", s.ClientID)
		req.Header.Set("Request-Seq", strconv.FormatUint(s.Seq, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			// Never connected: the node did not see the request.
			return Result{Outcome: Fail, Err: err}
		}
		return indefinite(err, mutates)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return indefinite(fmt.Errorf("reading answer: %w", err), mutates)
	}
	return interpret(resp.StatusCode, raw, mutates)
}

// interpret maps a node's answer (HTTP status and JSON body) to a result.
func interpret(status int, raw []byte, mutates bool) Result {
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return indefinite(fmt.Errorf("HTTP %d with a body that is not JSON: %q", status, truncate(raw)), mutates)
	}
	r := Result{}
	if a.Value != nil {
		r.Value, r.Present = *a.Value, true
	}
	switch {
	case status == http.StatusOK && a.Outcome == "ok":
		r.Outcome = OK
	case a.Outcome == "fail":
		r.Outcome, r.Err = Fail, fmt.Errorf("HTTP %d: %s", status, a.Error)
		r.Mismatch = status == http.StatusConflict
	default:
		r = indefinite(fmt.Errorf("HTTP %d: %s", status, a.Error), mutates)
	}
	return r
}

// indefinite is the result of an operation that may have reached the node
// without an answer from it: a mutation may have taken effect, a read
// surely had none.
func indefinite(err error, mutates bool) Result {
	if mutates {
		return Result{Outcome: Info, Err: err}
	}
	return Result{Outcome: Fail, Err: err}
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// Status is a node's GET /v1/status answer.
type Status struct {
	ID      string `json:"id"`
	Role    string `json:"role"`
	Term    uint64 `json:"term"`
	Leader  string `json:"leader"`
	Commit  uint64 `json:"commit"`
	Applied uint64 `json:"applied"`
}

// Status fetches the node's status.
func (c *RaftnodeClient) Status(ctx context.Context) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return st, fmt.Errorf("status: HTTP %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}
