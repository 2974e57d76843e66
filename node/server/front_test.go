package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
)

// startOne runs a one-node server and returns it once it leads, plus a
// second client address served by net/http alone with the same handler
// and event loop, to compare the front against.
func startOne(t *testing.T) (s *Server, front, netHTTP string) { return startOneB(t) }

func startOneB(t testing.TB) (s *Server, front, netHTTP string) {
	t.Helper()
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	clientLn, peerLn, plainLn := listen(), listen(), listen()
	s, err := New(Config{ID: "n1", Peers: map[raft.NodeID]string{"n1": peerLn.Addr().String()},
		DataDir: t.TempDir(), Tick: 5 * time.Millisecond, Heartbeat: 20 * time.Millisecond,
		ElectionTimeout: 100 * time.Millisecond, ClientListener: clientLn, PeerListener: peerLn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); s.Status().Role != "leader"; {
		if time.Now().After(deadline) {
			t.Fatal("no leader within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	plain := &http.Server{Handler: s.http.Handler}
	go func() { _ = plain.Serve(plainLn) }()
	t.Cleanup(func() {
		_ = plain.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, clientLn.Addr().String(), plainLn.Addr().String()
}

// dial connects to addr with a 10 s deadline on everything; the
// connection closes with the test.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// exchange writes raw requests on one connection and reads n final
// answers. Interim 1xx answers (100 Continue) are skipped, as a client
// does: reading one as the answer would leave the request running behind
// the test's back.
func exchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for range n {
		resp, err := http.ReadResponse(br, nil)
		for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 {
			resp, err = http.ReadResponse(br, nil)
		}
		if err != nil {
			t.Fatalf("answer %d of %d to %q: %v", len(out)+1, n, raw, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, resp)
	}
	return out
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b)
}

func put(key, body string, extra ...string) string {
	return fmt.Sprintf("PUT /v1/kv/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s",
		key, len(body), strings.Join(extra, ""), body)
}

// TestFrontAnswersAsNetHTTP: every request, plain or not, gets the same
// status, headers (but Date) and body from the front as from net/http.
func TestFrontAnswersAsNetHTTP(t *testing.T) {
	s, front, plain := startOne(t)
	exchange(t, front, put("k", `{"value":7}`), 1)
	cases := []struct {
		name, raw string
		plain     bool // the front answers it itself
	}{
		{"write", put("k", `{"value":7}`), true},
		{"write with spaces", put("k", " {\"value\" :\t7 }\r\n"), true},
		{"read", "GET /v1/kv/k HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"read never written", "GET /v1/kv/nope HTTP/1.1\r\nhost: x\r\nConnection: keep-alive\r\n\r\n", true},
		{"cas mismatch", "POST /v1/kv/k/cas HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{\"from\":1,\"to\":2}\n", true},
		{"session", put("k", `{"value":7}`, "Client-Id: c1\r\n", "Request-Seq: 3\r\n"), true},
		{"bad session", put("k", `{"value":7}`, "Client-Id: c1\r\n", "Request-Seq: x\r\n"), true},
		{"session half", put("k", `{"value":7}`, "Request-Seq: 3\r\n"), true},
		{"bad body", put("k", `{"value":1.5}`), true},
		{"escaped name", put("k", `{"val\u0075e":7}`), true},
		{"null", put("k", `{"value":null}`), true},
		{"empty body", put("k", ``), true},
		{"html in key and error", put("a_b.c~d-e", `<&>`), true},
		{"close", put("k", `{"value":7}`, "Connection: close\r\n"), true},
		{"percent key", put("a%20b", `{"value":7}`), false},
		{"dot key", "GET /v1/kv/.. HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"query", "GET /v1/kv/k?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"chunked", "PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"value\":7}\r\n0\r\n\r\n", false},
		{"expect", put("k", `{"value":7}`, "Expect: 100-continue\r\n"), false},
		{"no host", "GET /v1/kv/k HTTP/1.1\r\n\r\n", false},
		{"two hosts", "GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", false},
		{"http 1.0", "GET /v1/kv/k HTTP/1.0\r\n\r\n", false},
		{"bare LF", "GET /v1/kv/k HTTP/1.1\nHost: x\n\n", false},
		{"read with body", "GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", false},
		{"write without length", "PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
		{"bad header name", "GET /v1/kv/k HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", false},
		{"status", "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"method", "DELETE /v1/kv/k HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"cas by PUT", put("k/cas", `{"from":1,"to":2}`), false},
		{"big body", put("k", `{"value":7`+strings.Repeat(" ", 5000)+`}`), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plain0, off0 := s.front.plain.Load(), s.front.handedOff.Load()
			got := exchange(t, front, tc.raw, 1)[0]
			want := exchange(t, plain, tc.raw, 1)[0]
			if tc.plain != (s.front.plain.Load() > plain0) || tc.plain == (s.front.handedOff.Load() > off0) {
				t.Errorf("answered by the front: %v, want %v", !tc.plain, tc.plain)
			}
			if got.StatusCode != want.StatusCode || bodyOf(got) != bodyOf(want) {
				t.Errorf("front: %d %q\nnet/http: %d %q", got.StatusCode, bodyOf(got), want.StatusCode, bodyOf(want))
			}
			got.Header.Del("Date")
			want.Header.Del("Date")
			if g, w := fmt.Sprint(got.Header), fmt.Sprint(want.Header); g != w {
				t.Errorf("headers: front %s, net/http %s", g, w)
			}
			if got.Close != want.Close || got.ContentLength != want.ContentLength {
				t.Errorf("front: close %v length %d; net/http: close %v length %d",
					got.Close, got.ContentLength, want.Close, want.ContentLength)
			}
		})
	}
}

// TestFrontPipelineAndHandoff: requests pipelined on one connection are
// answered in order, across the hand-off to net/http in the middle.
func TestFrontPipelineAndHandoff(t *testing.T) {
	_, front, _ := startOne(t)
	raw := put("p", `{"value":1}`) +
		"PUT /v1/kv/p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{\"value\":2}\r\n0\r\n\r\n" +
		"GET /v1/kv/p HTTP/1.1\r\nHost: x\r\n\r\n" +
		put("p", `{"value":3}`) +
		"GET /v1/kv/p HTTP/1.1\r\nHost: x\r\n\r\n"
	want := []int64{1, 2, 2, 3, 3}
	for i, r := range exchange(t, front, raw, len(want)) {
		var a opResponse
		if err := json.Unmarshal([]byte(bodyOf(r)), &a); err != nil || a.Value == nil || *a.Value != want[i] {
			t.Errorf("answer %d: %d %s; want value %d", i+1, r.StatusCode, bodyOf(r), want[i])
		}
	}
}

// TestFrontPipelinedInFlight: operations pipelined on one connection
// overlap in the loop and still behave as if run one after another: a
// chain of compare-and-sets each expecting its predecessor's value all
// succeed, and every read sees exactly the writes sent before it.
func TestFrontPipelinedInFlight(t *testing.T) {
	s, front, _ := startOne(t)
	cas := func(from, to int) string {
		body := fmt.Sprintf(`{"from":%d,"to":%d}`, from, to)
		return fmt.Sprintf("POST /v1/kv/q/cas HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	get := "GET /v1/kv/q HTTP/1.1\r\nHost: x\r\n\r\n"
	var raw strings.Builder
	var want []int64
	for v := 1; v <= 20; v++ {
		raw.WriteString(put("q", fmt.Sprintf(`{"value":%d}`, v)))
		want = append(want, int64(v))
	}
	for range 3 {
		raw.WriteString(get)
		want = append(want, 20)
	}
	for v := 20; v < 30; v++ {
		raw.WriteString(cas(v, v+1))
		want = append(want, int64(v+1))
	}
	raw.WriteString(get)
	want = append(want, 30)
	raw.WriteString(put("q", `{"value":31}`))
	want = append(want, 31)
	raw.WriteString(get)
	want = append(want, 31)
	overlapped0 := s.front.overlapped.Load()
	for i, r := range exchange(t, front, raw.String(), len(want)) {
		var a opResponse
		if err := json.Unmarshal([]byte(bodyOf(r)), &a); err != nil || r.StatusCode != http.StatusOK ||
			a.Value == nil || *a.Value != want[i] {
			t.Errorf("answer %d: %d %s; want ok with value %d", i+1, r.StatusCode, bodyOf(r), want[i])
		}
	}
	if s.front.overlapped.Load() == overlapped0 {
		t.Error("no operation was submitted while another on its connection was in flight")
	}
}

// TestFrontPipelinedClose: a request with Connection: close in a pipeline
// is the last one served; what follows it on the connection is not run.
func TestFrontPipelinedClose(t *testing.T) {
	_, front, _ := startOne(t)
	c := dial(t, front)
	raw := put("z", `{"value":1}`) + put("z", `{"value":2}`, "Connection: close\r\n") + put("z", `{"value":3}`)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i, wantClose := range []bool{false, true} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Close != wantClose {
			t.Errorf("answer %d: %d, close %v; want 200, close %v", i+1, resp.StatusCode, resp.Close, wantClose)
		}
	}
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the closing answer: read %d bytes, %v; want EOF", n, err)
	}
	got := exchange(t, front, "GET /v1/kv/z HTTP/1.1\r\nHost: x\r\n\r\n", 1)[0]
	if b := bodyOf(got); !strings.Contains(b, `"value":2`) {
		t.Errorf("after the pipeline the key holds %s; want 2 (the request after the close must not run)", b)
	}
}

// TestFrontSlowHeader: a request that arrives in pieces is still answered.
func TestFrontSlowHeader(t *testing.T) {
	s, front, _ := startOne(t)
	c := dial(t, front)
	raw := put("s", `{"value":9}`)
	for i := 0; i < len(raw); i += 7 {
		if _, err := io.WriteString(c, raw[i:min(i+7, len(raw))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || s.front.plain.Load() != 1 {
		t.Errorf("HTTP %d, %d plain requests; want 200 from the front", resp.StatusCode, s.front.plain.Load())
	}
}

// A connection that never sends a request is closed after
// ReadHeaderTimeout, as net/http closes it; one that made a request and
// then idles past that timeout stays open for its next one (keep-alive).
func TestFrontIdleConnections(t *testing.T) {
	s, front, _ := startOne(t)
	timeout := s.http.ReadHeaderTimeout
	silent, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	kept, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	br := bufio.NewReader(kept)
	for i := range 2 {
		if _, err := io.WriteString(kept, put("idle", fmt.Sprintf(`{"value":%d}`, i))); err != nil {
			t.Fatal(err)
		}
		_ = kept.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on a kept-alive connection: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: HTTP %d", i, resp.StatusCode)
		}
		if i == 0 {
			time.Sleep(timeout + time.Second)
		}
	}
	_ = silent.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("a connection silent for %v: read gave %v, want EOF (closed by the server)", timeout+time.Second, err)
	}
}

// BenchmarkClientAPI compares the front with net/http alone serving the
// same handler: linearizable reads of a one-node cluster (no disk on the
// path), 16 keep-alive connections sending raw requests.
func BenchmarkClientAPI(b *testing.B) {
	for _, via := range []string{"front", "net-http"} {
		b.Run(via, func(b *testing.B) {
			_, front, plain := startOneB(b)
			addr := front
			if via == "net-http" {
				addr = plain
			}
			req := []byte("GET /v1/kv/k HTTP/1.1\r\nHost: x\r\n\r\n")
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReader(c)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != http.StatusOK {
						b.Errorf("HTTP %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
