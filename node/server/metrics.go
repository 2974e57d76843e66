package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftcheck/raftcheck/node/replica"
)

// metrics are registered in the server's own registry: no global state,
// so several servers can live in one test process.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// The series of every operation and outcome, resolved once: looking
	// them up by label on every request hashes the labels each time.
	byOp      [replica.OpCAS + 1]prometheus.Observer
	byOutcome [replica.OpCAS + 1][replica.Info + 1]prometheus.Counter
	// confChanges counts membership changes committed through this node.
	confChanges *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftnode_client_requests_total",
			Help: "Client operations answered, by operation and outcome (ok, fail, info).",
		}, []string{"op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "raftnode_client_request_duration_seconds",
			Help:    "Latency of client operations as seen by the node.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"op"}),
		confChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raftnode_membership_changes_total",
			Help: "Membership changes committed through this node's API, by type.",
		}, []string{"type"}),
	}
	for op := replica.OpRead; op <= replica.OpCAS; op++ {
		m.byOp[op] = m.latency.WithLabelValues(op.String())
		for o := replica.OK; o <= replica.Info; o++ {
			m.byOutcome[op][o] = m.requests.WithLabelValues(op.String(), o.String())
		}
	}
	gauge := func(name, help string, f func(replica.Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return f(s.Status()) })
	}
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f()) })
	}
	stats := func() replica.Stats { return *s.stats.Load() }
	m.reg.MustRegister(m.requests, m.latency, m.confChanges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("raftnode_term", "Current Raft term.", func(st replica.Status) float64 { return float64(st.Term) }),
		gauge("raftnode_commit_index", "Highest log index known committed.", func(st replica.Status) float64 { return float64(st.Commit) }),
		gauge("raftnode_applied_index", "Highest log index applied to the state machine.", func(st replica.Status) float64 { return float64(st.Applied) }),
		gauge("raftnode_last_index", "Last index in the log.", func(st replica.Status) float64 { return float64(st.LastIndex) }),
		gauge("raftnode_snapshot_index", "Index of the latest snapshot.", func(st replica.Status) float64 { return float64(st.SnapshotIndex) }),
		gauge("raftnode_is_leader", "1 if this node is the leader.", func(st replica.Status) float64 {
			if st.Role == "leader" {
				return 1
			}
			return 0
		}),
		gauge("raftnode_voters", "Voters in the configuration in force.", func(st replica.Status) float64 { return float64(len(st.Voters)) }),
		gauge("raftnode_learners", "Learners in the configuration in force.", func(st replica.Status) float64 { return float64(len(st.Learners)) }),
		gauge("raftnode_pending_requests", "Client operations waiting for an outcome.", func(st replica.Status) float64 { return float64(st.Pending) }),
		counter("raftnode_leader_changes_total", "Leader changes seen.", func() uint64 { return stats().LeaderChanges }),
		counter("raftnode_proposals_total", "Writes and cas proposed.", func() uint64 { return stats().Proposals }),
		counter("raftnode_applied_entries_total", "Log entries applied.", func() uint64 { return stats().Applied }),
		counter("raftnode_snapshots_total", "Snapshots taken.", func() uint64 { return stats().Snapshots }),
		counter("raftnode_snapshot_restores_total", "Snapshots installed from the leader.", func() uint64 { return stats().Restores }),
		counter("raftnode_wal_fsyncs_total", "fsyncs of the log.", func() uint64 { return s.storage.SyncCount() }),
		counter("raftnode_peer_messages_sent_total", "Messages written to peers.", func() uint64 { return s.transport.Stats().Sent }),
		counter("raftnode_peer_messages_dropped_total", "Messages to peers dropped.", func() uint64 { return s.transport.Stats().Dropped }),
		counter("raftnode_peer_messages_received_total", "Messages received from peers.", func() uint64 { return s.transport.Stats().Received }),
		counter("raftnode_peer_bad_frames_total", "Peer connections closed for garbage.", func() uint64 { return s.transport.Stats().BadFrames }),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) observe(op replica.Op, outcome replica.Outcome, d time.Duration) {
	if op < replica.OpRead || op > replica.OpCAS || outcome < replica.OK || outcome > replica.Info {
		m.requests.WithLabelValues(op.String(), outcome.String()).Inc()
		m.latency.WithLabelValues(op.String()).Observe(d.Seconds())
		return
	}
	m.byOutcome[op][outcome].Inc()
	m.byOp[op].Observe(d.Seconds())
}
