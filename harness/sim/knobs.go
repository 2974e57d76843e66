package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
)

// Knobs are the simulator's own settings: test.json's backend_config for
// a simulated run. Resolve draws them from the seed, once; a replay reads
// them back and draws nothing.
type Knobs struct {
	// Tick is the nodes' tick; Heartbeat is theirs in time.
	Tick      store.Duration `json:"tick"`
	Heartbeat store.Duration `json:"heartbeat"`
	// MaxAppendBytes and MaxInflight tune replication (raft.Config):
	// small values split and pipeline appends, exposing commit rules.
	MaxAppendBytes int `json:"max_append_bytes"`
	MaxInflight    int `json:"max_inflight"`
	// Reactive is the probability that the simulator strikes at a fragile
	// instant (a vote granted, an election won); see reactive.go.
	Reactive float64 `json:"reactive"`
	// Figure8 replaces the clock-driven nemesis by the choreography of
	// figure8.go.
	Figure8 bool `json:"figure8"`
	// ConfStrike replaces the clock-driven nemesis by the membership
	// choreography of confstrike.go, when the membership nemesis is on
	// and the cluster has five nodes or more.
	ConfStrike    bool      `json:"conf_strike,omitempty"`
	SnapshotEvery uint64    `json:"snapshot_every"`
	Net           NetConfig `json:"net"`
}

// Resolve completes a test configuration for the simulator: engine
// settings left zero and every knob are drawn from the seed (so each
// seed explores its own corner and the same seed always the same one),
// and the knobs are recorded as backend_config. A configuration that
// already has a backend_config (a replay) keeps it as it is.
func Resolve(tc store.TestConfig) (store.TestConfig, error) {
	if len(tc.BackendConfig) > 0 {
		_, err := complete(tc)
		return tc, err
	}
	d := draw(tc.Seed)
	k := Knobs{Tick: store.Duration(10 * time.Millisecond), Heartbeat: store.Duration(50 * time.Millisecond),
		MaxInflight: d.inflight, Reactive: d.reactive, SnapshotEvery: 500, Net: DefaultNet}
	if d.oneEntry {
		k.MaxAppendBytes = 1 // one entry per append
	}
	// Figure 8 cuts the leader off with a minority: it needs three nodes.
	if d.figure8 && slices.Contains(tc.Nemesis, "partition") && tc.Nodes >= 3 {
		k.Figure8 = true
		// One entry per append: a leader's first commit can then be of
		// inherited entries alone.
		k.MaxAppendBytes = 1
	}
	if d.confStrike && slices.Contains(tc.Nemesis, "membership") && tc.Nodes >= 5 && !k.Figure8 {
		k.ConfStrike = true
	}
	setDefault(&tc.NemesisInterval, d.interval)
	clientTimeout := time.Second
	if k.Figure8 {
		// Clients wait out the whole choreography, so the commit at its
		// end is acknowledged to them.
		clientTimeout = 3 * time.Second
	}
	setDefault(&tc.ClientTimeout, clientTimeout)
	setDefault(&tc.ElectionTimeout, 300*time.Millisecond)
	setDefault(&tc.Recovery, 30*time.Second)
	if tc.Retries == 0 {
		tc.Retries = 2
	}
	k.Net = d.net.weather(k.Net, time.Duration(tc.ElectionTimeout))
	b, err := json.Marshal(k)
	if err != nil {
		return tc, fmt.Errorf("sim: record knobs: %w", err)
	}
	tc.BackendConfig = b
	_, err = complete(tc)
	return tc, err
}

func setDefault(d *store.Duration, v time.Duration) {
	if *d == 0 {
		*d = store.Duration(v)
	}
}

// drawn is every draw of a seed's knobs. All are drawn, always, in this
// order, whatever the flags set: a flag then never shifts another draw,
// and a replay with the drawn values spelled out as flags is the same run.
type drawn struct {
	oneEntry bool
	inflight int
	interval time.Duration
	reactive float64
	figure8  bool
	net      netDrawn
	// confStrike is drawn after the network's weather.
	confStrike bool
}

// netDrawn is the network's weather, drawn after the other knobs.
type netDrawn struct {
	slowEvery, slowFor     time.Duration
	slowMaxTimeouts        int // slow latency: 1..this many election timeouts
	oneWayEvery, oneWayFor time.Duration
	holdFrac               float64
	releaseSpread          time.Duration
	lateDup                float64
	lateMax                time.Duration
	outboundWindow         time.Duration
	redialWindow           time.Duration
}

func draw(seed uint64) drawn {
	k := harness.Stream(seed, "knobs")
	var d drawn
	d.oneEntry = k.IntN(3) == 0
	d.inflight = []int{1, 4, 256}[k.IntN(3)]
	d.interval = 300*time.Millisecond + time.Duration(k.Int64N(int64(3*time.Second)))
	storm := k.IntN(4) == 0
	d.reactive = []float64{0.02, 0.1, 0.3, 0.6}[k.IntN(4)]
	d.figure8 = k.IntN(4) == 0
	stormInterval := 50*time.Millisecond + time.Duration(k.Int64N(int64(250*time.Millisecond)))
	if storm {
		// A storm: faults change faster than elections settle, leaving
		// divergent log tails everywhere.
		d.interval = stormInterval
	}
	// The network's weather: drawn last, so that the draws above are
	// those of records made before it existed.
	d.net.slowEvery = []time.Duration{0, 10 * time.Second, 30 * time.Second, 60 * time.Second}[k.IntN(4)]
	d.net.slowFor = 500*time.Millisecond + time.Duration(k.Int64N(int64(2500*time.Millisecond)))
	d.net.slowMaxTimeouts = 2 + k.IntN(2)
	d.net.oneWayEvery = []time.Duration{0, 15 * time.Second, 45 * time.Second}[k.IntN(3)]
	d.net.oneWayFor = 300*time.Millisecond + time.Duration(k.Int64N(int64(2*time.Second)))
	d.net.holdFrac = []float64{0, 0.5, 0.5, 1}[k.IntN(4)]
	d.net.releaseSpread = time.Duration(k.Int64N(int64(20 * time.Millisecond)))
	d.net.lateDup = []float64{0, 0.002, 0.01}[k.IntN(3)]
	d.net.lateMax = time.Second + time.Duration(k.Int64N(int64(4*time.Second)))
	d.net.outboundWindow = []time.Duration{0, 5 * time.Millisecond, 100 * time.Millisecond, 2 * time.Second}[k.IntN(4)]
	d.net.redialWindow = []time.Duration{0, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond}[k.IntN(4)]
	d.confStrike = k.IntN(3) == 0
	return d
}

// weather completes the network's settings from the seed's draws; slow
// links are measured in election timeouts.
func (d netDrawn) weather(net NetConfig, electionTimeout time.Duration) NetConfig {
	net.SlowEvery, net.SlowFor = d.slowEvery, d.slowFor
	if d.slowEvery == 0 {
		net.SlowFor = 0
	} else {
		net.SlowMin, net.SlowMax = electionTimeout, time.Duration(d.slowMaxTimeouts)*electionTimeout
	}
	net.OneWayEvery, net.OneWayFor = d.oneWayEvery, d.oneWayFor
	if d.oneWayEvery == 0 {
		net.OneWayFor = 0
	}
	net.HoldFrac, net.ReleaseSpread = d.holdFrac, d.releaseSpread
	net.LateDup = d.lateDup
	if d.lateDup > 0 {
		net.LateMin, net.LateMax = time.Second, d.lateMax
	}
	net.OutboundWindow = d.outboundWindow
	net.RedialWindow = d.redialWindow
	return net
}

// complete checks that a configuration is fully resolved for the
// simulator (what a replay must find in test.json) and returns its knobs.
func complete(tc store.TestConfig) (Knobs, error) {
	if tc.NemesisInterval <= 0 || tc.ClientTimeout <= 0 || tc.ElectionTimeout <= 0 || tc.Recovery <= 0 {
		return Knobs{}, fmt.Errorf("sim: the configuration lacks engine settings (nemesis_interval, client_timeout, election_timeout, recovery): is it from an older raftcheck? rerun it without --replay")
	}
	k, err := decodeKnobs(tc.BackendConfig)
	if err != nil {
		return k, err
	}
	if k.Tick <= 0 || k.Heartbeat < k.Tick || k.SnapshotEvery == 0 || k.MaxInflight < 1 {
		return k, fmt.Errorf("sim: backend_config %s: tick, heartbeat, snapshot_every and max_inflight must be positive", tc.BackendConfig)
	}
	if tc.ElectionTimeout <= k.Heartbeat {
		return k, fmt.Errorf("sim: election timeout %v must exceed the heartbeat %v", tc.ElectionTimeout, k.Heartbeat)
	}
	return k, k.Net.validate()
}

// decodeKnobs reads a backend_config strictly: an unknown field means a
// configuration this simulator cannot replay faithfully.
func decodeKnobs(raw json.RawMessage) (Knobs, error) {
	var k Knobs
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&k); err != nil {
		return k, fmt.Errorf("sim: backend_config: %w", err)
	}
	return k, nil
}
