package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestBadRequests: every malformed request is refused with a 4xx, a JSON
// error and outcome "fail", and changes nothing.
func TestBadRequests(t *testing.T) {
	c := startCluster(t, 1)
	n := c.nodes[0]
	expect(t, "setup write", c.write(n, "k", 7, nil), http.StatusOK, "ok", val(7))

	const maxBody = 1 << 20
	padTo := func(size int) string { // a valid write body of exactly size bytes
		const head, tail = `{"value":`, `1}`
		return head + strings.Repeat(" ", size-len(head)-len(tail)) + tail
	}
	session := func(id, seq string) map[string]string {
		h := map[string]string{}
		if id != "" {
			h["Client-Id"] = id
		}
		if seq != "" {
			h["Request-Seq"] = seq
		}
		return h
	}
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		code                     int
		errHas                   string
	}{
		// malformed JSON
		{"empty body", "PUT", "/v1/kv/k", "", nil, 400, "unexpected end"},
		{"not JSON", "PUT", "/v1/kv/k", "value=1", nil, 400, "invalid character"},
		{"truncated", "PUT", "/v1/kv/k", `{"value":`, nil, 400, "unexpected end"},
		{"trailing bracket", "PUT", "/v1/kv/k", `{"value":1}]`, nil, 400, "after the JSON object"},
		{"trailing brace", "PUT", "/v1/kv/k", `{"value":1}}`, nil, 400, "after the JSON object"},
		{"two objects", "PUT", "/v1/kv/k", `{"value":1}{"value":2}`, nil, 400, "after the JSON object"},
		{"trailing comma", "PUT", "/v1/kv/k", `{"value":1,}`, nil, 400, "invalid character"},
		{"cas malformed", "POST", "/v1/kv/k/cas", `{"from":7,"to"`, nil, 400, "unexpected end"},
		// wrong types
		{"string value", "PUT", "/v1/kv/k", `{"value":"1"}`, nil, 400, `"value"`},
		{"float value", "PUT", "/v1/kv/k", `{"value":1.5}`, nil, 400, `"value"`},
		{"exponent value", "PUT", "/v1/kv/k", `{"value":1e3}`, nil, 400, `"value"`},
		{"overflowing value", "PUT", "/v1/kv/k", `{"value":9223372036854775808}`, nil, 400, `"value"`},
		{"bool value", "PUT", "/v1/kv/k", `{"value":true}`, nil, 400, `"value"`},
		{"array value", "PUT", "/v1/kv/k", `{"value":[1]}`, nil, 400, `"value"`},
		{"array body", "PUT", "/v1/kv/k", `[1]`, nil, 400, "want a JSON object"},
		{"null body", "PUT", "/v1/kv/k", `null`, nil, 400, "want a JSON object"},
		{"cas string from", "POST", "/v1/kv/k/cas", `{"from":"7","to":8}`, nil, 400, `"from"`},
		{"cas object to", "POST", "/v1/kv/k/cas", `{"from":7,"to":{}}`, nil, 400, `"to"`},
		// unknown and repeated fields
		{"unknown field", "PUT", "/v1/kv/k", `{"value":1,"ttl":5}`, nil, 400, `unknown field "ttl"`},
		{"field in other case", "PUT", "/v1/kv/k", `{"Value":1}`, nil, 400, `unknown field "Value"`},
		{"repeated field", "PUT", "/v1/kv/k", `{"value":1,"value":2}`, nil, 400, "twice"},
		{"cas unknown field", "POST", "/v1/kv/k/cas", `{"from":7,"to":8,"value":1}`, nil, 400, `unknown field "value"`},
		{"write body on cas", "POST", "/v1/kv/k/cas", `{"value":8}`, nil, 400, "unknown field"},
		// missing fields
		{"no value", "PUT", "/v1/kv/k", `{}`, nil, 400, `needs an integer "value"`},
		{"null value", "PUT", "/v1/kv/k", `{"value":null}`, nil, 400, `needs an integer "value"`},
		{"cas no to", "POST", "/v1/kv/k/cas", `{"from":7}`, nil, 400, `"from" and "to"`},
		{"cas no from", "POST", "/v1/kv/k/cas", `{"to":8}`, nil, 400, `"from" and "to"`},
		// size
		{"body over 1 MiB", "PUT", "/v1/kv/k", padTo(maxBody + 1), nil, 413, "over"},
		{"read body over 1 MiB", "GET", "/v1/kv/k", padTo(maxBody + 1), nil, 413, "over"},
		{"key over 64 KiB", "PUT", "/v1/kv/" + strings.Repeat("x", 64<<10+1), `{"value":1}`, nil, 400, "key longer"},
		// routes and methods
		{"unknown route", "GET", "/v1/nope", "", nil, 404, "no route"},
		{"root", "GET", "/", "", nil, 404, "no route"},
		{"kv without key", "GET", "/v1/kv", "", nil, 404, "no route"},
		{"kv empty key", "GET", "/v1/kv/", "", nil, 404, "no route"},
		{"nested key", "PUT", "/v1/kv/k/sub", `{"value":1}`, nil, 404, "no route"},
		{"unknown verb", "POST", "/v1/kv/k/incr", `{}`, nil, 404, "no route"},
		{"delete", "DELETE", "/v1/kv/k", "", nil, 405, "not allowed"},
		{"post on key", "POST", "/v1/kv/k", `{"value":1}`, nil, 405, "not allowed"},
		{"put on cas", "PUT", "/v1/kv/k/cas", `{"from":7,"to":8}`, nil, 405, "not allowed"},
		{"post status", "POST", "/v1/status", `{}`, nil, 405, "not allowed"},
		{"delete metrics", "DELETE", "/metrics", "", nil, 405, "not allowed"},
		// session headers
		{"client id alone", "PUT", "/v1/kv/k", `{"value":1}`, session("c1", ""), 400, "go together"},
		{"seq alone", "PUT", "/v1/kv/k", `{"value":1}`, session("", "1"), 400, "go together"},
		{"seq zero", "PUT", "/v1/kv/k", `{"value":1}`, session("c1", "0"), 400, "Request-Seq"},
		{"seq negative", "PUT", "/v1/kv/k", `{"value":1}`, session("c1", "-1"), 400, "Request-Seq"},
		{"seq not a number", "PUT", "/v1/kv/k", `{"value":1}`, session("c1", "one"), 400, "Request-Seq"},
		{"seq overflows", "POST", "/v1/kv/k/cas", `{"from":7,"to":8}`, session("c1", "18446744073709551616"), 400, "Request-Seq"},
		{"client id too long", "PUT", "/v1/kv/k", `{"value":1}`, session(strings.Repeat("c", 1025), "1"), 400, "Client-Id longer"},
		{"read with bad session", "GET", "/v1/kv/k", "", session("c1", "x"), 400, "Request-Seq"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call(n, tc.method, tc.path, tc.body, tc.header)
			if r.code != tc.code || r.body.Outcome != "fail" || !strings.Contains(r.body.Error, tc.errHas) {
				t.Errorf("%s %s: HTTP %d %s; want HTTP %d, outcome fail, error containing %q",
					tc.method, tc.path, r.code, bytes.TrimSpace(r.raw), tc.code, tc.errHas)
			}
			if r.body.Value != nil {
				t.Errorf("a refused request answered a value: %s", r.raw)
			}
			if tc.code == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
	expect(t, "read after refused requests", c.read(n, "k"), http.StatusOK, "ok", val(7))

	// The limit is inclusive: a body of exactly 1 MiB is fine.
	r := c.call(n, "PUT", "/v1/kv/k", padTo(maxBody), nil)
	expect(t, "1 MiB body", r, http.StatusOK, "ok", val(1))
}

// TestRoundTrip: write, read and cas through leader and followers, with
// the cas mismatch answering 409 and the current value.
func TestRoundTrip(t *testing.T) {
	c := startCluster(t, 3)
	leader, follower := c.leader(), c.follower()

	expect(t, "read of a never-written key", c.read(follower, "fresh"), 200, "ok", nil)
	if r := c.read(leader, "fresh"); !bytes.Contains(r.raw, []byte(`"value":null`)) {
		t.Errorf("never-written key: body %s lacks \"value\":null", r.raw)
	}

	w := c.write(follower, "k", 5, nil)
	expect(t, "write through a follower", w, 200, "ok", val(5))
	if w.body.Key != "k" || w.body.Leader != string(leader.id) {
		t.Errorf("write answer %s: want key k and leader %s", w.raw, leader.id)
	}
	for _, n := range c.nodes {
		expect(t, "read from "+string(n.id), c.read(n, "k"), 200, "ok", val(5))
	}
	expect(t, "cas 5->6", c.cas(leader, "k", 5, 6, nil), 200, "ok", val(6))
	expect(t, "cas 5->7 (mismatch)", c.cas(follower, "k", 5, 7, nil), http.StatusConflict, "fail", val(6))
	expect(t, "cas on a never-written key", c.cas(follower, "nokey", 0, 1, nil), http.StatusConflict, "fail", nil)
	for _, n := range c.nodes {
		expect(t, "read after cas from "+string(n.id), c.read(n, "k"), 200, "ok", val(6))
	}
	expect(t, "negative value", c.write(leader, "neg", -9223372036854775808, nil), 200, "ok", val(-9223372036854775808))
	expect(t, "read negative", c.read(follower, "neg"), 200, "ok", val(-9223372036854775808))
	// Keys are path segments: escaped characters survive.
	expect(t, "escaped key", c.write(follower, "a%2Fb%20c", 3, nil), 200, "ok", val(3))
	if r := c.read(leader, "a%2Fb%20c"); r.body.Key != "a/b c" || r.body.Value == nil || *r.body.Value != 3 {
		t.Errorf("escaped key read back as %s", r.raw)
	}
}

// TestSessionRetryAppliesOnce: a retried request with the same Client-Id
// and Request-Seq takes effect once, whichever node it is sent to.
func TestSessionRetryAppliesOnce(t *testing.T) {
	c := startCluster(t, 3)
	leader, follower := c.leader(), c.follower()
	sess := func(seq int) map[string]string {
		return map[string]string{"Client-Id": "client-a", "Request-Seq": strconv.Itoa(seq)}
	}

	expect(t, "write 1", c.write(leader, "k", 1, nil), 200, "ok", val(1))
	expect(t, "cas 1->2 seq 1", c.cas(leader, "k", 1, 2, sess(1)), 200, "ok", val(2))
	expect(t, "write 1 again", c.write(leader, "k", 1, nil), 200, "ok", val(1))
	// Applied again, the retry would move k from 1 to 2. It answers as
	// the first time did, and changes nothing.
	expect(t, "retry of cas seq 1", c.cas(follower, "k", 1, 2, sess(1)), 200, "ok", val(2))
	expect(t, "read after the retry", c.read(leader, "k"), 200, "ok", val(1))

	// The same for a write.
	expect(t, "write 10 seq 2", c.write(follower, "k", 10, sess(2)), 200, "ok", val(10))
	expect(t, "write 20", c.write(leader, "k", 20, nil), 200, "ok", val(20))
	expect(t, "retry of write seq 2", c.write(leader, "k", 10, sess(2)), 200, "ok", val(10))
	expect(t, "read after the write retry", c.read(follower, "k"), 200, "ok", val(20))

	// A retry older than the session's latest cannot be answered: the
	// outcome is unknown (504 info), and it is not applied.
	expect(t, "stale retry of seq 1", c.cas(leader, "k", 20, 30, sess(1)), http.StatusGatewayTimeout, "info", nil)
	expect(t, "read after the stale retry", c.read(leader, "k"), 200, "ok", val(20))

	// A mismatching cas is remembered as such.
	expect(t, "cas mismatch seq 3", c.cas(leader, "k", 99, 100, sess(3)), http.StatusConflict, "fail", val(20))
	expect(t, "write 99", c.write(leader, "k", 99, nil), 200, "ok", val(99))
	expect(t, "retry of mismatch seq 3", c.cas(follower, "k", 99, 100, sess(3)), http.StatusConflict, "fail", val(20))
	expect(t, "read after the mismatch retry", c.read(leader, "k"), 200, "ok", val(99))

	// Other clients have their own sequence numbers.
	other := map[string]string{"Client-Id": "client-b", "Request-Seq": "1"}
	expect(t, "client-b seq 1", c.cas(leader, "k", 99, 100, other), 200, "ok", val(100))
}

// TestStatus: GET /v1/status has the documented fields and they agree
// across the cluster.
func TestStatus(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	expect(t, "write", c.write(leader, "k", 1, nil), 200, "ok", val(1))
	c.waitApplied(leader.srv.Status().Commit)

	roles := map[string]int{}
	for _, n := range c.nodes {
		resp, err := c.http.Get(n.base + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		err = json.NewDecoder(resp.Body).Decode(&fields)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status HTTP %d, %v", n.id, resp.StatusCode, err)
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"applied", "commit", "id", "last_index", "leader", "learners", "role", "snapshot_index", "term", "voters"}
		if !slices.Equal(keys, want) {
			t.Errorf("%s: status fields %v, want %v", n.id, keys, want)
		}
		num := func(k string) float64 { f, _ := fields[k].(float64); return f }
		if fields["id"] != string(n.id) || fields["leader"] != string(leader.id) {
			t.Errorf("%s: status %v: want id %s, leader %s", n.id, fields, n.id, leader.id)
		}
		if num("term") < 1 || num("commit") < 2 || num("applied") > num("commit") || num("last_index") < num("commit") {
			t.Errorf("%s: status %v: want term >= 1, commit >= 2 (no-op and write), applied <= commit <= last_index", n.id, fields)
		}
		if v := fmt.Sprint(fields["voters"]); v != "[n1 n2 n3]" || fmt.Sprint(fields["learners"]) != "[]" {
			t.Errorf("%s: voters %v learners %v, want [n1 n2 n3] and []", n.id, fields["voters"], fields["learners"])
		}
		role, _ := fields["role"].(string)
		roles[role]++
	}
	if roles["leader"] != 1 || roles["follower"] != 2 {
		t.Errorf("roles %v: want one leader and two followers", roles)
	}
}

// TestMetrics: GET /metrics is Prometheus text with the node's gauges and
// counters.
func TestMetrics(t *testing.T) {
	c := startCluster(t, 1)
	n := c.nodes[0]
	expect(t, "write", c.write(n, "k", 1, nil), 200, "ok", val(1))
	expect(t, "read", c.read(n, "k"), 200, "ok", val(1))
	expect(t, "cas mismatch", c.cas(n, "k", 5, 6, nil), 409, "fail", val(1))

	resp, err := c.http.Get(n.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("metrics: HTTP %d, Content-Type %q; want 200 text/plain", resp.StatusCode, ct)
	}
	samples := map[string]float64{}
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("not a Prometheus sample line: %q", line)
		}
		samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	st := n.srv.Status()
	for name, typ := range map[string]string{
		"raftnode_term": "gauge", "raftnode_commit_index": "gauge", "raftnode_applied_index": "gauge",
		"raftnode_is_leader": "gauge", "raftnode_snapshot_index": "gauge",
		"raftnode_client_requests_total": "counter", "raftnode_client_request_duration_seconds": "histogram",
		"raftnode_wal_fsyncs_total": "counter", "raftnode_snapshot_restores_total": "counter",
		"raftnode_peer_bad_frames_total": "counter", "go_goroutines": "gauge",
		"raftnode_voters": "gauge", "raftnode_learners": "gauge",
	} {
		if types[name] != typ {
			t.Errorf("metric %s: type %q, want %q", name, types[name], typ)
		}
	}
	for sample, want := range map[string]float64{
		"raftnode_term":      float64(st.Term),
		"raftnode_is_leader": 1,
		"raftnode_voters":    1,
		"raftnode_learners":  0,
		`raftnode_client_requests_total{op="write",outcome="ok"}`:  1,
		`raftnode_client_requests_total{op="read",outcome="ok"}`:   1,
		`raftnode_client_requests_total{op="cas",outcome="fail"}`:  1,
		`raftnode_client_request_duration_seconds_count{op="cas"}`: 1,
	} {
		if got, ok := samples[sample]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", sample, got, ok, want)
		}
	}
	if samples["raftnode_commit_index"] < 2 || samples["raftnode_wal_fsyncs_total"] < 1 {
		t.Errorf("raftnode_commit_index %v, raftnode_wal_fsyncs_total %v: want >= 2 and >= 1",
			samples["raftnode_commit_index"], samples["raftnode_wal_fsyncs_total"])
	}
}
