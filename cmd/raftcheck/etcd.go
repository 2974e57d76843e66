package main

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/docker"
	"github.com/raftcheck/raftcheck/workload"
)

// etcdConfig is the docker cluster and live-run settings for etcd:
// --election-timeout sets etcd's (heartbeat a tenth of it), and writes
// are never retried, since etcd cannot tell a retry from a new write.
func etcdConfig(df dockerFlags) (docker.Config, harness.LiveOptions) {
	return docker.Config{Target: docker.Etcd(df.electionTimeout)}, harness.LiveOptions{Retries: -1}
}

// etcdCluster gives a docker cluster of etcd members etcd clients, one
// connection per member shared by the processes bound to it.
type etcdCluster struct {
	*docker.Cluster
	clients map[string]*workload.EtcdClient
}

func newEtcdCluster(cl *docker.Cluster, reads workload.EtcdReads) (etcdCluster, func(), error) {
	c := etcdCluster{Cluster: cl, clients: map[string]*workload.EtcdClient{}}
	var conns []*clientv3.Client
	closeAll := func() {
		for _, cli := range conns {
			cli.Close() // only its connection to release: no error to act on
		}
	}
	for _, n := range cl.Nodes() {
		cli, err := workload.DialEtcd(cl.ClientAddr(n))
		if err != nil {
			closeAll()
			return c, func() {}, fmt.Errorf("connect to etcd member %s: %w", n, err)
		}
		conns = append(conns, cli)
		c.clients[n] = workload.NewEtcdClient(cli, reads)
	}
	return c, closeAll, nil
}

func (c etcdCluster) Client(node string) workload.Client { return c.clients[node] }
