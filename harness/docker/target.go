package docker

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/workload"
)

// Target is the system the containers run: raftnode (the default) or
// etcd. Everything else, the network, fixed IPs, partitions, kill,
// pause, evidence, logs and clean-up, is the same for every target. An
// image for a target must have bash and iptables, and run the program
// through scripts/node/raftcheck-entrypoint, which applies a partition in
// force before the program starts (see Cluster.Start).
type Target struct {
	// Name names the system in messages ("raftnode", "etcd").
	Name string
	// Image is the image the members run; BuildHint says how to build it.
	Image, BuildHint string
	// PeerPort is where members talk to each other (connectivity
	// probes use it); ClientPort where clients connect, published on a
	// fixed port of 127.0.0.1 (Cluster.ClientAddr).
	PeerPort, ClientPort int
	// DataDir is kept on a volume, so it survives kill and restart.
	DataDir string
	// Args returns the container command (the arguments of the image's
	// entrypoint) of member self in the cluster of all. Config.Args are
	// appended to it.
	Args func(self Member, all []Member) []string
	// Status asks the member whose client port is at addr for its view
	// of the cluster. A member that answers is up and serving.
	Status func(ctx context.Context, hc *http.Client, addr string) (NodeStatus, error)
	// StatusNeedsQuorum is true if a restarted member answers Status only
	// once it reaches a quorum (etcd serves no client before it has
	// published itself through raft). Start then returns as soon as the
	// member listens on ClientPort, so that a majority killed together
	// can be started one by one.
	StatusNeedsQuorum bool
	// Members changes the configuration (the membership nemesis); nil:
	// the target takes no membership changes.
	Members *MemberAPI
	// ElectionTimeout is the members' election timeout: Evidence waits up
	// to four of them for an isolated leader to step down. Zero: raftnode's
	// --election-timeout in Config.Args, or its default.
	ElectionTimeout time.Duration
}

// Member is one node of the cluster as the target's Args sees it: its
// name (n1..nN, also its host name on the private network) and fixed IP.
type Member struct {
	Name string
	IP   netip.Addr
}

// NodeStatus is a member's view of the cluster.
type NodeStatus struct {
	Role   string // "leader", "follower", ... ("" if the target has no word for it)
	Leader string // the leader's name, "" if none is known
	Term   uint64
	Commit uint64 // the commit index, where the target reports it
}

// Raftnode is the default target: raftnode from Dockerfile.node (`make
// image`), peers on 7000 and the HTTP API on 8000.
func Raftnode() Target {
	return Target{
		Name:       "raftnode",
		Image:      DefaultImage,
		BuildHint:  "make image",
		PeerPort:   PeerPort,
		ClientPort: ClientPort,
		DataDir:    dataDir,
		Args: func(self Member, all []Member) []string {
			peers := make([]string, len(all))
			for i, m := range all {
				peers[i] = fmt.Sprintf("%s=%s:%d", m.Name, m.Name, PeerPort)
			}
			return []string{"--id", self.Name, "--peers", strings.Join(peers, ","),
				"--client-addr", fmt.Sprintf("0.0.0.0:%d", ClientPort), "--data-dir", dataDir}
		},
		Status: func(ctx context.Context, hc *http.Client, addr string) (NodeStatus, error) {
			st, err := workload.NewRaftnodeClient(addr, hc).Status(ctx)
			return NodeStatus{Role: st.Role, Leader: st.Leader, Term: st.Term, Commit: st.Commit}, err
		},
		Members: raftnodeMembers(),
	}
}
