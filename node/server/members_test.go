package server_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/node/raft"
	"github.com/raftcheck/raftcheck/node/server"
)

// TestMembersBadRequests: malformed membership requests are refused with
// a 4xx and a JSON error, wrong methods with 405, and nothing changes.
func TestMembersBadRequests(t *testing.T) {
	c := startCluster(t, 1)
	n := c.nodes[0]
	cases := []struct {
		name, method, path, body string
		code                     int
		errHas                   string
	}{
		{"empty body", "POST", "/v1/members", "", 400, "unexpected end"},
		{"no id", "POST", "/v1/members", `{"peer_addr":"127.0.0.1:1"}`, 400, `"id"`},
		{"empty id", "POST", "/v1/members", `{"id":"","peer_addr":"127.0.0.1:1"}`, 400, `"id"`},
		{"id over 255 bytes", "POST", "/v1/members", `{"id":"` + strings.Repeat("n", 256) + `","peer_addr":"a:1"}`, 400, `"id"`},
		{"numeric id", "POST", "/v1/members", `{"id":4,"peer_addr":"127.0.0.1:1"}`, 400, `"id"`},
		{"no address", "POST", "/v1/members", `{"id":"n4"}`, 400, `"peer_addr"`},
		{"null address", "POST", "/v1/members", `{"id":"n4","peer_addr":null}`, 400, `"peer_addr"`},
		{"voter at once", "POST", "/v1/members", `{"id":"n4","peer_addr":"a:1","learner":false}`, 400, "learner"},
		{"learner not a bool", "POST", "/v1/members", `{"id":"n4","peer_addr":"a:1","learner":"yes"}`, 400, `"learner"`},
		{"unknown field", "POST", "/v1/members", `{"id":"n4","peer_addr":"a:1","voter":true}`, 400, `unknown field "voter"`},
		{"field in other case", "POST", "/v1/members", `{"ID":"n4","peer_addr":"a:1"}`, 400, `unknown field "ID"`},
		{"repeated field", "POST", "/v1/members", `{"id":"n4","id":"n5","peer_addr":"a:1"}`, 400, "twice"},
		{"trailing data", "POST", "/v1/members", `{"id":"n4","peer_addr":"a:1"}x`, 400, "after the JSON object"},
		{"array body", "POST", "/v1/members", `[]`, 400, "want a JSON object"},
		{"promote with body", "POST", "/v1/members/n1/promote", `{}`, 400, "no body"},
		{"remove with body", "DELETE", "/v1/members/n1", `{}`, 400, "no body"},
		{"transfer no to", "POST", "/v1/leader/transfer", `{}`, 400, `"to"`},
		{"transfer numeric", "POST", "/v1/leader/transfer", `{"to":2}`, 400, `"to"`},
		{"transfer unknown field", "POST", "/v1/leader/transfer", `{"to":"n1","force":true}`, 400, "unknown field"},
		{"body over 1 MiB", "POST", "/v1/members", `{"id":"n4","peer_addr":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "over"},
		{"put members", "PUT", "/v1/members", `{}`, 405, "not allowed"},
		{"delete members", "DELETE", "/v1/members", "", 405, "not allowed"},
		{"get promote", "GET", "/v1/members/n1/promote", "", 405, "not allowed"},
		{"get member", "GET", "/v1/members/n1", "", 405, "not allowed"},
		{"get transfer", "GET", "/v1/leader/transfer", "", 405, "not allowed"},
		{"unknown member route", "POST", "/v1/members/n1/demote", "", 404, "no route"},
		// Refused by the core's checks, not the decoder.
		{"promote unknown", "POST", "/v1/members/n9/promote", "", 404, "not a member"},
		{"remove unknown", "DELETE", "/v1/members/n9", "", 404, "not a member"},
		{"promote a voter", "POST", "/v1/members/n1/promote", "", 409, "already a member"},
		{"remove the last voter", "DELETE", "/v1/members/n1", "", 400, "last voter"},
		{"transfer to unknown", "POST", "/v1/leader/transfer", `{"to":"n9"}`, 404, "not a member"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.call(n, tc.method, tc.path, tc.body, nil)
			if r.code != tc.code || !strings.Contains(r.body.Error, tc.errHas) {
				t.Errorf("%s %s: HTTP %d %s; want HTTP %d, error containing %q",
					tc.method, tc.path, r.code, bytes.TrimSpace(r.raw), tc.code, tc.errHas)
			}
			if tc.code == 405 && r.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
	if m := members(t, c, n); len(m.Voters) != 1 || len(m.Learners) != 0 || len(m.Removed) != 0 {
		t.Fatalf("refused requests changed the membership: %+v", m)
	}
}

func members(t *testing.T, c *testCluster, n *testNode) server.MembersBody {
	t.Helper()
	r := c.call(n, "GET", "/v1/members", "", nil)
	if r.code != 200 {
		t.Fatalf("GET /v1/members: HTTP %d %s", r.code, r.raw)
	}
	var m server.MembersBody
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

type memberIDs struct{ voters, learners, removed []string }

func idsOf(m server.MembersBody) memberIDs {
	var out memberIDs
	for _, v := range m.Voters {
		out.voters = append(out.voters, v.ID)
	}
	for _, l := range m.Learners {
		out.learners = append(out.learners, l.ID)
	}
	out.removed = m.Removed
	return out
}

// TestMembersJoinPromoteRemove: a node started with --join on an empty
// data dir is added as a learner through the API, catches up, is
// promoted, leads after a transfer, and a removed node's ID is refused.
func TestMembersJoinPromoteRemove(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	for i := range 20 {
		expect(t, "write", c.write(leader, "k", int64(i), nil), 200, "ok", val(int64(i)))
	}
	peerLn := listen(t)
	peers := map[raft.NodeID]string{"n4": peerLn.Addr().String()}
	for id, a := range c.peers {
		peers[id] = a
	}
	n4 := c.startNode("n4", peers, peerLn, true)
	time.Sleep(50 * time.Millisecond)
	if st := n4.srv.Status(); len(st.Voters) != 0 || st.Commit != 0 {
		t.Fatalf("a joining node learned something before it was added: %+v", st)
	}

	// A request already forwarded once is not forwarded again: 503
	// names the leader.
	f := c.nodes[0]
	if f == leader {
		f = c.nodes[1]
	}
	add := `{"id":"n4","peer_addr":"` + peerLn.Addr().String() + `","learner":true}`
	r := c.call(f, "POST", "/v1/members", add, map[string]string{"Raftnode-Forwarded-By": "n9"})
	if r.code != 503 || r.body.Leader != string(leader.id) {
		t.Fatalf("add at a follower, marked forwarded: HTTP %d %s; want 503 naming %s", r.code, r.raw, leader.id)
	}
	// Any node accepts the request: a follower forwards it to the leader.
	r = c.call(f, "POST", "/v1/members", add, nil)
	if r.code != 200 || r.header.Get("Raftnode-Forwarded-By") != string(leader.id) {
		t.Fatalf("add n4 through follower %s: HTTP %d %s (forwarded by %q)", f.id, r.code, r.raw, r.header.Get("Raftnode-Forwarded-By"))
	}
	var added server.MembersBody
	_ = json.Unmarshal(r.raw, &added)
	if got := idsOf(added); !slices.Equal(got.learners, []string{"n4"}) || added.Index == 0 {
		t.Fatalf("add answered %s", r.raw)
	}
	r = c.call(leader, "POST", "/v1/members", `{"id":"n4","peer_addr":"a:1"}`, nil)
	if r.code != 409 {
		t.Fatalf("adding n4 twice: HTTP %d %s, want 409", r.code, r.raw)
	}
	c.waitApplied(leader.srv.Status().Commit)
	if v := c.read(n4, "k"); v.code != 200 || *v.body.Value != 19 {
		t.Fatalf("read at the learner: HTTP %d %s", v.code, v.raw)
	}

	if r := c.call(f, "POST", "/v1/members/n4/promote", "", nil); r.code != 200 {
		t.Fatalf("promote n4 through follower %s: HTTP %d %s", f.id, r.code, r.raw)
	}
	c.waitApplied(leader.srv.Status().Commit)
	for _, n := range c.nodes {
		if st := n.srv.Status(); len(st.Voters) != 4 || len(st.Learners) != 0 {
			t.Errorf("%s after promote: voters %v learners %v", n.id, st.Voters, st.Learners)
		}
	}

	r = c.call(f, "POST", "/v1/leader/transfer", `{"to":"n4"}`, nil)
	if r.code != 200 || n4.srv.Status().Role != "leader" {
		t.Fatalf("transfer to n4: HTTP %d %s; n4 is %s", r.code, r.raw, n4.srv.Status().Role)
	}
	if got := c.leader(); got != n4 {
		t.Fatalf("leader after transfer %s", got.id)
	}

	victim := c.nodes[0]
	if r := c.call(n4, "DELETE", "/v1/members/"+string(victim.id), "", nil); r.code != 200 {
		t.Fatalf("remove %s: HTTP %d %s", victim.id, r.code, r.raw)
	}
	r = c.call(n4, "POST", "/v1/members", `{"id":"`+string(victim.id)+`","peer_addr":"a:1"}`, nil)
	if r.code != 409 || !strings.Contains(r.body.Error, "reused") {
		t.Fatalf("re-adding removed %s: HTTP %d %s, want 409", victim.id, r.code, r.raw)
	}
	got := idsOf(members(t, c, n4))
	want := memberIDs{voters: []string{"n2", "n3", "n4"}, removed: []string{string(victim.id)}}
	if !slices.Equal(got.voters, want.voters) || len(got.learners) != 0 || !slices.Equal(got.removed, want.removed) {
		t.Fatalf("members %+v, want %+v", got, want)
	}
	for _, m := range members(t, c, n4).Voters {
		if m.PeerAddr == "" {
			t.Errorf("member %s without an address", m.ID)
		}
	}
	expect(t, "write after the changes", c.write(n4, "k", 100, nil), 200, "ok", val(100))
}
