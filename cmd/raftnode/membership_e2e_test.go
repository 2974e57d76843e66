package main

// End-to-end membership changes: real processes, a background writer,
// nodes joining with --join on empty data directories.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/internal/proccluster"
	"github.com/raftcheck/raftcheck/workload"
)

// memberStatus is the part of GET /v1/status this test reads.
type memberStatus struct {
	ID       string   `json:"id"`
	Role     string   `json:"role"`
	Leader   string   `json:"leader"`
	Commit   uint64   `json:"commit"`
	Applied  uint64   `json:"applied"`
	Voters   []string `json:"voters"`
	Learners []string `json:"learners"`
}

// apiCall sends one request to node i and returns the status and body.
func apiCall(ctx context.Context, c *proccluster.Cluster, i int, method, path, body string) (int, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Nodes[i].ClientAddr+path, rd)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func statusOf(ctx context.Context, c *proccluster.Cluster, i int) (memberStatus, error) {
	var st memberStatus
	code, raw, err := apiCall(ctx, c, i, "GET", "/v1/status", "")
	if err != nil || code != 200 {
		return st, fmt.Errorf("status of %s: HTTP %d %v", c.Nodes[i].ID, code, err)
	}
	return st, json.Unmarshal(raw, &st)
}

// indexOf returns the index of the node named id.
func indexOf(c *proccluster.Cluster, id string) int {
	return slices.IndexFunc(c.Nodes, func(n *proccluster.Node) bool { return n.ID == id })
}

// leaderAmong waits until a majority of members name one leader that
// says it leads, and returns its index.
func leaderAmong(t *testing.T, c *proccluster.Cluster, members []int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		votes := map[string]int{}
		for _, i := range members {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			st, err := statusOf(ctx, c, i)
			cancel()
			if err == nil && st.Leader != "" {
				votes[st.Leader]++
			}
		}
		for _, i := range members {
			if votes[c.Nodes[i].ID] > len(members)/2 {
				ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				st, err := statusOf(ctx, c, i)
				cancel()
				if err == nil && st.Role == "leader" {
					return i
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no leader among %v within 10s", ids(c, members))
	return -1
}

func ids(c *proccluster.Cluster, idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, c.Nodes[i].ID)
	}
	return out
}

// change sends a membership request to some member, following the
// leader hint of a 503 and retrying a 409 "in progress", until it
// answers 200 (returned) or another error (fatal).
func change(t *testing.T, c *proccluster.Cluster, members []int, method, path, body string) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	at := members[0]
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		code, raw, err := apiCall(ctx, c, at, method, path, body)
		cancel()
		var e struct {
			Error  string `json:"error"`
			Leader string `json:"leader"`
		}
		_ = json.Unmarshal(raw, &e)
		switch {
		case err == nil && code == 200:
			return raw
		case time.Now().After(deadline):
			t.Fatalf("%s %s %s at %s: HTTP %d %s %v", method, path, body, c.Nodes[at].ID, code, raw, err)
		case code == 503 && e.Leader != "" && indexOf(c, e.Leader) >= 0:
			at = indexOf(c, e.Leader)
		case code == 503 || code == 504 || code == 409 && strings.Contains(e.Error, "in progress") || err != nil:
			at = leaderAmong(t, c, members)
		default:
			t.Fatalf("%s %s %s at %s: HTTP %d %s", method, path, body, c.Nodes[at].ID, code, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCaughtUp waits until node i has applied what the leader committed.
func waitCaughtUp(t *testing.T, c *proccluster.Cluster, leader, i int) {
	t.Helper()
	ctx := testCtx(t, 15*time.Second)
	st, err := statusOf(ctx, c, leader)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitApplied(ctx, i, st.Commit); err != nil {
		t.Fatal(err)
	}
}

// targets is the set of nodes the background writers use, changed as
// members come and go.
type targets struct {
	mu      sync.Mutex
	clients []*workload.RaftnodeClient
}

func (tg *targets) set(c *proccluster.Cluster, idx []int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.clients = nil
	for _, i := range idx {
		tg.clients = append(tg.clients, c.Nodes[i].Client)
	}
}

func (tg *targets) pick(n int) *workload.RaftnodeClient {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.clients[n%len(tg.clients)]
}

// writeInBackground runs writers through the current targets until
// stop is called, which returns each key's history.
func writeInBackground(t *testing.T, tg *targets, writers, keysEach int) (stop func() map[string][]writeOp) {
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu   sync.Mutex
		hist = map[string][]writeOp{}
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			sess := workload.Session{ClientID: fmt.Sprintf("writer-%d", w)}
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("w%d-k%d", w, n%keysEach)
				v := int64(w)<<32 | int64(n+1)
				sess.Seq++
				actx, acancel := context.WithTimeout(ctx, time.Second)
				r := tg.pick(w+n).Write(actx, key, v, sess)
				acancel()
				mu.Lock()
				hist[key] = append(hist[key], writeOp{v, r.Outcome})
				mu.Unlock()
				if r.Outcome != workload.OK {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	return func() map[string][]writeOp {
		cancel()
		wg.Wait()
		return hist
	}
}

// addMember starts id with --join, adds it as a learner, waits for it
// to catch up and promotes it.
func addMember(t *testing.T, c *proccluster.Cluster, members []int, id string) int {
	t.Helper()
	i, err := c.AddNode(id, "--join")
	if err != nil {
		t.Fatal(err)
	}
	change(t, c, members, "POST", "/v1/members",
		fmt.Sprintf(`{"id":%q,"peer_addr":%q,"learner":true}`, id, c.Nodes[i].PeerAddr))
	waitCaughtUp(t, c, leaderAmong(t, c, members), i)
	change(t, c, members, "POST", "/v1/members/"+id+"/promote", "")
	t.Logf("%s joined and was promoted", id)
	return i
}

// removeMember removes node i and stops its process.
func removeMember(t *testing.T, c *proccluster.Cluster, members []int, i int) []int {
	t.Helper()
	change(t, c, members, "DELETE", "/v1/members/"+c.Nodes[i].ID, "")
	if err := c.Kill(i); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s removed", c.Nodes[i].ID)
	return slices.DeleteFunc(slices.Clone(members), func(x int) bool { return x == i })
}

// transferTo hands leadership to node to and checks that it leads.
func transferTo(t *testing.T, c *proccluster.Cluster, members []int, to int) {
	t.Helper()
	change(t, c, members, "POST", "/v1/leader/transfer", fmt.Sprintf(`{"to":%q}`, c.Nodes[to].ID))
	st, err := statusOf(testCtx(t, time.Second), c, to)
	if err != nil || st.Role != "leader" {
		t.Fatalf("after the transfer %s is %q (%v)", c.Nodes[to].ID, st.Role, err)
	}
	if l := leaderAmong(t, c, members); l != to {
		t.Fatalf("after the transfer to %s the members agree on %s", c.Nodes[to].ID, c.Nodes[l].ID)
	}
	t.Logf("leadership transferred to %s", c.Nodes[to].ID)
}

// TestMembershipChangesUnderLoad grows 3 → 5 (two --join nodes added as
// learners, then promoted), moves leadership, shrinks 5 → 3, replaces a
// member with a new ID on a fresh data directory, all under writes; then
// no acknowledged write is lost and every member reports the same
// configuration.
func TestMembershipChangesUnderLoad(t *testing.T) {
	c := startCluster(t, "--snapshot-every", "200")
	members := []int{0, 1, 2}
	tg := &targets{}
	tg.set(c, members)
	stop := writeInBackground(t, tg, 4, 4)
	time.Sleep(300 * time.Millisecond)

	// Grow.
	n4 := addMember(t, c, members, "n4")
	members = append(members, n4)
	n5 := addMember(t, c, members, "n5")
	members = append(members, n5)
	tg.set(c, members)
	transferTo(t, c, members, n5)

	// Shrink: the writers leave the nodes first.
	tg.set(c, []int{2, n4, n5})
	members = removeMember(t, c, members, 0)
	members = removeMember(t, c, members, 1)

	// Replace n3 by n6 on a fresh data directory; n3's ID is retired.
	tg.set(c, []int{n4, n5})
	members = removeMember(t, c, members, 2)
	ctx := testCtx(t, 5*time.Second)
	code, raw, err := apiCall(ctx, c, leaderAmong(t, c, members), "POST", "/v1/members", `{"id":"n3","peer_addr":"127.0.0.1:1"}`)
	if err != nil || code != http.StatusConflict {
		t.Fatalf("re-adding removed n3: HTTP %d %s %v; want 409", code, raw, err)
	}
	n6 := addMember(t, c, members, "n6")
	members = append(members, n6)
	tg.set(c, members)
	transferTo(t, c, members, n6)
	time.Sleep(300 * time.Millisecond)
	hist := stop()

	// Every acknowledged write survived.
	leader := leaderAmong(t, c, members)
	for _, i := range members {
		waitCaughtUp(t, c, leader, i)
	}
	var acked, info int
	for key, ops := range hist {
		final := readUntilOK(t, c, leader, key)
		allowed, last := allowedFinal(ops)
		if !allowed[final] {
			t.Errorf("key %s reads %s; last acknowledged write %s; allowed %v", key, final, last, keysOf(allowed))
		}
		for _, op := range ops {
			switch op.outcome {
			case workload.OK:
				acked++
			case workload.Info:
				info++
			}
		}
	}
	t.Logf("%d keys: %d writes acknowledged, %d unknown", len(hist), acked, info)
	if acked < 100 {
		t.Errorf("only %d writes acknowledged during the changes: the test proves little", acked)
	}

	// Every member reports the same configuration.
	want := []string{"n4", "n5", "n6"}
	for _, i := range members {
		st, err := statusOf(testCtx(t, time.Second), c, i)
		if err != nil || !slices.Equal(st.Voters, want) || len(st.Learners) != 0 {
			t.Errorf("%s: voters %v learners %v (%v); want %v and none", c.Nodes[i].ID, st.Voters, st.Learners, err, want)
		}
		code, raw, err := apiCall(testCtx(t, time.Second), c, i, "GET", "/v1/members", "")
		var m struct {
			Voters []struct {
				ID       string `json:"id"`
				PeerAddr string `json:"peer_addr"`
			} `json:"voters"`
			Removed []string `json:"removed"`
		}
		if err == nil {
			err = json.Unmarshal(raw, &m)
		}
		if err != nil || code != 200 || len(m.Voters) != 3 || !slices.Equal(m.Removed, []string{"n1", "n2", "n3"}) {
			t.Errorf("%s: GET /v1/members HTTP %d %s (%v)", c.Nodes[i].ID, code, raw, err)
		}
		for _, v := range m.Voters {
			if v.PeerAddr != c.Nodes[indexOf(c, v.ID)].PeerAddr {
				t.Errorf("%s: member %s at %q, want %q", c.Nodes[i].ID, v.ID, v.PeerAddr, c.Nodes[indexOf(c, v.ID)].PeerAddr)
			}
		}
	}
}
