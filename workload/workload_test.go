package workload

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/raftcheck/raftcheck/checker"
)

func TestGeneratorDeterministicAndRotatesKeys(t *testing.T) {
	gen := func() []Op {
		g := NewGenerator(GeneratorConfig{OpsPerKey: 10, ActiveKeys: 2}, rand.New(rand.NewPCG(1, 2)))
		var ops []Op
		for range 100 {
			ops = append(ops, g.Next())
		}
		return ops
	}
	a, b := gen(), gen()
	perKey := map[string]int{}
	kinds := map[string]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("op %d differs: %+v vs %+v", i, a[i], b[i])
		}
		perKey[a[i].Key]++
		kinds[a[i].F]++
	}
	for k, n := range perKey {
		if n > 10 {
			t.Errorf("key %s got %d ops, more than OpsPerKey", k, n)
		}
	}
	if len(perKey) < 10 || kinds[checker.Read] == 0 || kinds[checker.Write] == 0 || kinds[checker.CAS] == 0 {
		t.Errorf("keys %d, kinds %v: want rotation and a mix", len(perKey), kinds)
	}
}

func TestSettle(t *testing.T) {
	for _, c := range []struct {
		name    string
		attempt int
		res     Result
		want    Outcome
		again   bool
	}{
		{"ok", 1, Result{Outcome: OK}, OK, false},
		{"first attempt fails: surely not applied", 0, Result{Outcome: Fail}, Fail, false},
		{"retry fails without the node saying why: earlier attempt may apply", 1, Result{Outcome: Fail}, Info, true},
		{"retry sees a cas mismatch: dedup makes it definite", 1, Result{Outcome: Fail, Mismatch: true}, Fail, false},
		{"timeout", 0, Result{Outcome: Info}, Info, true},
	} {
		got, again := Settle(c.attempt, c.res)
		if got.Outcome != c.want || again != c.again {
			t.Errorf("%s: got %s again=%v, want %s again=%v", c.name, got.Outcome, again, c.want, c.again)
		}
	}
}

// The client maps every answer of the API to ok, fail or info.
func TestClientOutcomes(t *testing.T) {
	status, body := 0, ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Client-Id") == "" && r.Method != http.MethodGet {
			t.Error("write sent without a session")
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c := NewRaftnodeClient(srv.Listener.Addr().String(), NewHTTPClient(2))
	ctx := context.Background()
	s := Session{ClientID: "p1", Seq: 1}
	for _, tc := range []struct {
		status    int
		body      string
		write     Outcome
		read      Outcome
		mismatch  bool
		valueRead bool
	}{
		{200, `{"value":5,"outcome":"ok"}`, OK, OK, false, true},
		{409, `{"value":4,"outcome":"fail","error":"cas"}`, Fail, Fail, true, false},
		{503, `{"value":null,"outcome":"fail","error":"no leader"}`, Fail, Fail, false, false},
		{504, `{"value":null,"outcome":"info","error":"timed out"}`, Info, Fail, false, false},
		{502, `<html>bad gateway</html>`, Info, Fail, false, false},
	} {
		status, body = tc.status, tc.body
		if r := c.CAS(ctx, "k", 1, 2, s); r.Outcome != tc.write || r.Mismatch != tc.mismatch {
			t.Errorf("HTTP %d: cas %+v, want %s mismatch=%v", tc.status, r, tc.write, tc.mismatch)
		}
		if r := c.Read(ctx, "k"); r.Outcome != tc.read || (tc.valueRead && (r.Value != 5 || !r.Present)) {
			t.Errorf("HTTP %d: read %+v, want %s", tc.status, r, tc.read)
		}
	}
	// Nothing listens: the request surely never arrived.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	r := NewRaftnodeClient(addr, NewHTTPClient(1)).Write(ctx, "k", 1, s)
	var op *net.OpError
	if r.Outcome != Fail || !errors.As(r.Err, &op) {
		t.Errorf("refused connection: %+v, want fail", r)
	}
}
