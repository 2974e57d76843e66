package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// raftnodeMembers changes a raftnode cluster's configuration through its
// HTTP API (README, "Membership"): any member takes a change and forwards
// it to the leader; a change returns once committed. A new member starts
// with an empty data directory and --join.
func raftnodeMembers() *MemberAPI {
	return &MemberAPI{
		List: func(ctx context.Context, hc *http.Client, addr string) (Membership, error) {
			var ms struct {
				Voters   []struct{ ID string } `json:"voters"`
				Learners []struct{ ID string } `json:"learners"`
			}
			if err := raftnodeCall(ctx, hc, http.MethodGet, addr, "/v1/members", nil, &ms); err != nil {
				return Membership{}, err
			}
			var out Membership
			for _, v := range ms.Voters {
				out.Voters = append(out.Voters, v.ID)
			}
			for _, l := range ms.Learners {
				out.Learners = append(out.Learners, l.ID)
			}
			slices.Sort(out.Voters)
			slices.Sort(out.Learners)
			return out, nil
		},
		Remove: func(ctx context.Context, hc *http.Client, addr, member string) error {
			return raftnodeCall(ctx, hc, http.MethodDelete, addr, "/v1/members/"+member, nil, nil)
		},
		AddLearner: func(ctx context.Context, hc *http.Client, addr string, peer Member) error {
			body := map[string]any{"id": peer.Name, "peer_addr": fmt.Sprintf("%s:%d", peer.IP, PeerPort), "learner": true}
			return raftnodeCall(ctx, hc, http.MethodPost, addr, "/v1/members", body, nil)
		},
		Promote: func(ctx context.Context, hc *http.Client, addr string, peer Member) error {
			return raftnodeCall(ctx, hc, http.MethodPost, addr, "/v1/members/"+peer.Name+"/promote", nil, nil)
		},
		Transfer: func(ctx context.Context, hc *http.Client, addr, member string) error {
			return raftnodeCall(ctx, hc, http.MethodPost, addr, "/v1/leader/transfer", map[string]string{"to": member}, nil)
		},
		JoinArgs: func(self Member, all []Member) []string {
			peers := make([]string, len(all))
			for i, m := range all {
				peers[i] = fmt.Sprintf("%s=%s:%d", m.Name, m.IP, PeerPort)
			}
			return []string{"--id", self.Name, "--join", "--peers", strings.Join(peers, ","),
				"--client-addr", fmt.Sprintf("0.0.0.0:%d", ClientPort), "--data-dir", dataDir}
		},
	}
}

// raftnodeCall makes one API call; a status other than 200 is an error
// with the node's {"error": ...}.
func raftnodeCall(ctx context.Context, hc *http.Client, method, addr, path string, body, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(raw))
		}
		return fmt.Errorf("%s %s: HTTP %d: %.200s", method, path, resp.StatusCode, e.Error)
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}
