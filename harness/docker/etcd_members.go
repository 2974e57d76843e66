package docker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftcheck/raftcheck/workload"
)

// etcdMembers changes an etcd cluster's configuration as etcdctl does,
// through the Cluster API of etcd's Go client (MemberRemove,
// MemberAddAsLearner, MemberPromote) and Maintenance.MoveLeader; a new
// member joins with --initial-cluster-state existing, as in Jepsen's etcd
// test. Members are named by --name; a learner added but not started yet
// has no name, and is found by its peer URL.
func etcdMembers(electionTimeout, heartbeat time.Duration) *MemberAPI {
	return &MemberAPI{
		List: etcdList,
		Remove: func(ctx context.Context, _ *http.Client, addr, member string) error {
			return withEtcd(addr, func(cli *clientv3.Client) error {
				id, err := etcdMemberID(ctx, cli, member, "")
				if err != nil {
					return err
				}
				_, err = cli.MemberRemove(ctx, id)
				return err
			})
		},
		AddLearner: func(ctx context.Context, _ *http.Client, addr string, peer Member) error {
			return withEtcd(addr, func(cli *clientv3.Client) error {
				// A learner of an earlier add that never started holds
				// the slot's peer URL: etcd refuses a second one.
				if id, err := etcdMemberID(ctx, cli, "", etcdPeerURL(peer)); err == nil {
					if _, err := cli.MemberRemove(ctx, id); err != nil {
						return fmt.Errorf("remove the stale member at %s: %w", etcdPeerURL(peer), err)
					}
				}
				_, err := cli.MemberAddAsLearner(ctx, []string{etcdPeerURL(peer)})
				return err
			})
		},
		Promote: func(ctx context.Context, _ *http.Client, addr string, peer Member) error {
			return withEtcd(addr, func(cli *clientv3.Client) error {
				id, err := etcdMemberID(ctx, cli, peer.Name, etcdPeerURL(peer))
				if err != nil {
					return err
				}
				// etcd refuses while the learner lags the leader: the
				// harness retries until it has caught up.
				_, err = cli.MemberPromote(ctx, id)
				return err
			})
		},
		Transfer: func(ctx context.Context, _ *http.Client, addr, member string) error {
			// MoveLeader must reach the leader: the others say "not
			// leader", and the harness tries the next member.
			return withEtcd(addr, func(cli *clientv3.Client) error {
				id, err := etcdMemberID(ctx, cli, member, "")
				if err != nil {
					return err
				}
				_, err = cli.MoveLeader(ctx, id)
				return err
			})
		},
		JoinArgs: func(self Member, all []Member) []string {
			return etcdArgs(self, all, "existing", electionTimeout, heartbeat)
		},
	}
}

func withEtcd(addr string, fn func(*clientv3.Client) error) error {
	cli, err := workload.DialEtcd(addr)
	if err != nil {
		return err
	}
	defer closeEtcd(cli)
	return fn(cli)
}

// etcdMemberID finds a member by name, or else by peer URL.
func etcdMemberID(ctx context.Context, cli *clientv3.Client, name, peerURL string) (uint64, error) {
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return 0, err
	}
	for _, m := range resp.Members {
		if name != "" && m.Name == name {
			return m.ID, nil
		}
	}
	for _, m := range resp.Members {
		if peerURL != "" && slices.Contains(m.PeerURLs, peerURL) {
			return m.ID, nil
		}
	}
	return 0, errors.New("no member " + name + " " + peerURL)
}

// etcdList reads the configuration a member knows, through etcd's JSON
// gateway (its local state). A learner not started yet is listed by its
// peer URL.
func etcdList(ctx context.Context, hc *http.Client, addr string) (Membership, error) {
	var ml struct {
		Members []struct {
			ID        string   `json:"ID"`
			Name      string   `json:"name"`
			PeerURLs  []string `json:"peerURLs"`
			IsLearner bool     `json:"isLearner"`
		} `json:"members"`
	}
	if err := etcdPost(ctx, hc, addr, "/v3/cluster/member/list", &ml); err != nil {
		return Membership{}, err
	}
	var out Membership
	for _, m := range ml.Members {
		name := m.Name
		if name == "" {
			name = "unstarted:" + strconv.Quote(fmt.Sprint(m.PeerURLs))
		}
		if m.IsLearner {
			out.Learners = append(out.Learners, name)
		} else {
			out.Voters = append(out.Voters, name)
		}
	}
	slices.Sort(out.Voters)
	slices.Sort(out.Learners)
	return out, nil
}
