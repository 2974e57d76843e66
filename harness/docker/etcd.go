package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EtcdImage is the image `make etcd-image` builds (Dockerfile.etcd).
const EtcdImage = "raftcheck/etcd:dev"

// etcd's ports inside each container, and its data directory (a volume).
const (
	etcdPeerPort   = 2380
	etcdClientPort = 2379
	etcdDataDir    = "/var/lib/etcd"
)

// Etcd is the etcd target: Debian's etcd-server from Dockerfile.etcd,
// members named n1..nN advertising their fixed IPs, with the given
// election timeout and a heartbeat a tenth of it (etcd's own ratio; it
// wants at least 5x). PreVote is on, as in etcd 3.5 and later and as in
// raftnode, so the two are compared like for like.
func Etcd(electionTimeout time.Duration) Target {
	if electionTimeout <= 0 {
		electionTimeout = time.Second // etcd's default
	}
	heartbeat := max(electionTimeout/10, time.Millisecond)
	return Target{
		Name:              "etcd",
		Image:             EtcdImage,
		BuildHint:         "make etcd-image",
		PeerPort:          etcdPeerPort,
		ClientPort:        etcdClientPort,
		DataDir:           etcdDataDir,
		StatusNeedsQuorum: true,
		ElectionTimeout:   electionTimeout,
		Args: func(self Member, all []Member) []string {
			return etcdArgs(self, all, "new", electionTimeout, heartbeat)
		},
		Members: etcdMembers(electionTimeout, heartbeat),
		Status:  etcdStatus,
	}
}

// etcdArgs is the command of member self in a cluster whose initial
// configuration is all; state is "new" for the cluster's first members,
// "existing" for one joining it. On a restart the data directory holds
// the membership and the --initial-* flags are ignored.
func etcdArgs(self Member, all []Member, state string, electionTimeout, heartbeat time.Duration) []string {
	initial := make([]string, len(all))
	for i, m := range all {
		initial[i] = fmt.Sprintf("%s=%s", m.Name, etcdPeerURL(m))
	}
	return []string{
		"--name", self.Name,
		"--data-dir", etcdDataDir,
		"--listen-peer-urls", fmt.Sprintf("http://0.0.0.0:%d", etcdPeerPort),
		"--initial-advertise-peer-urls", etcdPeerURL(self),
		"--listen-client-urls", fmt.Sprintf("http://0.0.0.0:%d", etcdClientPort),
		"--advertise-client-urls", fmt.Sprintf("http://%s:%d", self.IP, etcdClientPort),
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", state,
		"--initial-cluster-token", "raftcheck",
		"--heartbeat-interval", strconv.FormatInt(heartbeat.Milliseconds(), 10),
		"--election-timeout", strconv.FormatInt(electionTimeout.Milliseconds(), 10),
		"--pre-vote",
		"--logger", "zap", "--log-outputs", "stderr",
	}
}

func etcdPeerURL(m Member) string { return fmt.Sprintf("http://%s:%d", m.IP, etcdPeerPort) }

// etcdStatus asks a member for its status and its member list through
// etcd's JSON gateway (POST /v3/maintenance/status and
// /v3/cluster/member/list; both answered from the member's local state)
// and names the leader. 64-bit IDs come as decimal strings.
func etcdStatus(ctx context.Context, hc *http.Client, addr string) (NodeStatus, error) {
	var st struct {
		Header struct {
			MemberID string `json:"member_id"`
		} `json:"header"`
		Leader   string `json:"leader"`
		RaftTerm string `json:"raftTerm"`
	}
	if err := etcdPost(ctx, hc, addr, "/v3/maintenance/status", &st); err != nil {
		return NodeStatus{}, err
	}
	var ml struct {
		Members []struct {
			ID   string `json:"ID"`
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := etcdPost(ctx, hc, addr, "/v3/cluster/member/list", &ml); err != nil {
		return NodeStatus{}, err
	}
	out := NodeStatus{Role: "follower"}
	out.Term, _ = strconv.ParseUint(st.RaftTerm, 10, 64)
	for _, m := range ml.Members {
		if m.ID == st.Leader {
			out.Leader = m.Name
		}
	}
	switch {
	case st.Leader == "" || st.Leader == "0":
		out.Role = "no leader"
	case st.Leader == st.Header.MemberID:
		out.Role = "leader"
	}
	return out, nil
}

func etcdPost(ctx context.Context, hc *http.Client, addr, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader([]byte("{}")))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("etcd %s: %w", path, err)
	}
	return nil
}
