package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/harness"
	"github.com/raftcheck/raftcheck/harness/store"
	"github.com/raftcheck/raftcheck/nemesis"
	"github.com/raftcheck/raftcheck/node/raft"
)

// harsh is the network with every kind of weather on, often.
func harsh(c NetConfig, electionTimeout time.Duration) NetConfig {
	c.SlowEvery, c.SlowFor, c.SlowMin, c.SlowMax = 5*time.Second, 2*time.Second, electionTimeout, 3*electionTimeout
	c.OneWayEvery, c.OneWayFor = 5*time.Second, time.Second
	c.HoldFrac, c.ReleaseSpread = 0.5, 10*time.Millisecond
	c.LateDup, c.LateMin, c.LateMax = 0.01, time.Second, 4*time.Second
	c.OutboundWindow = 2 * time.Second
	c.RedialWindow = 50 * time.Millisecond
	return c
}

// withNet resolves tc and replaces its network by set's.
func withNet(t testing.TB, tc store.TestConfig, set func(NetConfig, time.Duration) NetConfig) store.TestConfig {
	t.Helper()
	tc, err := Resolve(tc)
	if err != nil {
		t.Fatal(err)
	}
	k, err := decodeKnobs(tc.BackendConfig)
	if err != nil {
		t.Fatal(err)
	}
	k.Net = set(k.Net, time.Duration(tc.ElectionTimeout))
	if tc.BackendConfig, err = json.Marshal(k); err != nil {
		t.Fatal(err)
	}
	if _, err := complete(tc); err != nil {
		t.Fatal(err)
	}
	return tc
}

// runStats runs a resolved test as Run does and returns its history and
// the simulator's counters.
func runStats(t testing.TB, tc store.TestConfig) ([]byte, Stats) {
	t.Helper()
	s, err := New(tc)
	if err != nil {
		t.Fatal(err)
	}
	var out harness.Outcome
	var runErr error
	if err := s.rt.run(func() { out, runErr = harness.Run(context.Background(), s, tc, harness.Options{}) }); err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	return historyBytes(t, out.Events), s.Stats()
}

// The weather drawn from the seeds happens: over a few seeds, links turn
// slow and one-way, partitions hold and release, late duplicates and a
// paused process's writes go out.
func TestNetworkWeatherHappens(t *testing.T) {
	var sum NetStats
	for seed := uint64(1); seed <= 6; seed++ {
		tc, err := Resolve(testConfig(seed, 20*time.Second, ""))
		if err != nil {
			t.Fatal(err)
		}
		_, st := runStats(t, tc)
		n := st.Net
		sum.Slowed += n.Slowed
		sum.OneWayCut += n.OneWayCut
		sum.Held += n.Held
		sum.Released += n.Released
		sum.LateDuplicated += n.LateDuplicated
		sum.OutboundHeld += n.OutboundHeld
		sum.Redialed += n.Redialed
	}
	if sum.Slowed == 0 || sum.OneWayCut == 0 || sum.Held == 0 || sum.Released == 0 || sum.LateDuplicated == 0 ||
		sum.OutboundHeld == 0 || sum.Redialed == 0 {
		t.Fatalf("some weather never happened over 6 seeds: %+v", sum)
	}
}

// With every kind of weather on, a run still replays byte for byte, and
// the network does the same thing each time.
func TestNetworkWeatherReplays(t *testing.T) {
	for _, seed := range []uint64{3, 11} {
		tc := withNet(t, testConfig(seed, 10*time.Second, ""), harsh)
		a, sa := runStats(t, tc)
		b, sb := runStats(t, tc)
		if !bytes.Equal(a, b) {
			t.Fatalf("seed %d: two runs of one configuration gave different histories", seed)
		}
		if sa.Net != sb.Net || sa.Events != sb.Events {
			t.Fatalf("seed %d: the network differed between two runs: %+v / %+v", seed, sa.Net, sb.Net)
		}
		n := sa.Net
		if n.Slowed == 0 || n.OneWayCut == 0 || n.LateDuplicated == 0 {
			t.Fatalf("seed %d: harsh weather did not happen: %+v", seed, n)
		}
	}
}

// A record made before the weather existed has none of its fields: it
// decodes with the weather off and still validates.
func TestOldRecordHasNoWeather(t *testing.T) {
	tc, err := Resolve(testConfig(5, 10*time.Second, ""))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(tc.BackendConfig, &raw); err != nil {
		t.Fatal(err)
	}
	raw["net"] = map[string]any{"min_latency_ns": 100000, "max_latency_ns": 2000000, "tail_frac": 0.01,
		"tail_latency_ns": 50000000, "loss": 0.01, "duplicate": 0.01}
	if tc.BackendConfig, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(tc); err != nil {
		t.Fatal(err)
	}
	_, st := runStats(t, tc)
	n := st.Net
	if n.Slowed+n.OneWayCut+n.Held+n.Released+n.LateDuplicated+n.OutboundHeld+n.Redialed != 0 {
		t.Fatalf("weather in a run without it: %+v", n)
	}
}

// An inconsistent network is refused.
func TestNetworkValidate(t *testing.T) {
	for _, c := range []NetConfig{
		{SlowEvery: time.Second},
		{SlowEvery: time.Second, SlowFor: time.Second},
		{SlowEvery: time.Second, SlowFor: time.Second, SlowMin: 2, SlowMax: 1},
		{OneWayFor: time.Second},
		{HoldFrac: 1.5},
		{LateDup: 0.1},
		{LateDup: 0.1, LateMin: 2, LateMax: 1},
		{OutboundWindow: -1},
		{RedialWindow: -1},
	} {
		if err := c.validate(); err == nil {
			t.Errorf("%+v validated", c)
		}
	}
	if err := harsh(DefaultNet, time.Second).validate(); err != nil {
		t.Fatal(err)
	}
}

// A link's episodes depend on the seed and the link alone: asked rarely
// or often, the timeline is the same.
func TestEpisodesIgnoreTraffic(t *testing.T) {
	timeline := func(step int64) string {
		e := episodes{rng: harness.Stream(9, "net/slow/n1>n2"), every: int64(time.Second), span: int64(time.Second)}
		var on []int64
		for now := int64(0); now < int64(30*time.Second); now += step {
			if now%int64(100*time.Millisecond) == 0 && e.active(now) {
				on = append(on, now)
			}
		}
		return fmt.Sprint(on)
	}
	dense, sparse := timeline(int64(time.Millisecond)), timeline(int64(100*time.Millisecond))
	if dense != sparse || dense == "[]" {
		t.Fatalf("the timeline depends on how often it is asked:\n%s\n%s", dense, sparse)
	}
}

// netSim is a simulator whose network has no weather but hold, for
// watching single messages.
func netSim(t *testing.T, holdFrac float64) *Simulator {
	t.Helper()
	tc := withNet(t, testConfig(1, time.Second, ""), func(c NetConfig, _ time.Duration) NetConfig {
		c = DefaultNet
		c.Loss, c.Duplicate, c.TailFrac = 0, 0, 0
		c.HoldFrac, c.ReleaseSpread = holdFrac, 10*time.Millisecond
		c.OutboundWindow = time.Second
		return c
	})
	s, err := New(tc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A holding partition keeps what it cuts and delivers it after the heal;
// a dropping one loses it.
func TestPartitionHoldsOrDrops(t *testing.T) {
	for _, hold := range []bool{true, false} {
		s := netSim(t, map[bool]float64{true: 1, false: 0}[hold])
		ctx := context.Background()
		if err := s.Partition(ctx, nemesis.Isolate(s.Nodes(), "n1")); err != nil {
			t.Fatal(err)
		}
		before := s.net.stats
		for i := range 5 {
			s.transmit(s.nodes[0], raft.Message{Type: raft.MsgHeartbeat, From: "n1", To: "n2", Term: 0, Commit: uint64(i)}, s.nodes[1])
		}
		// Within the first election timeout: no other traffic yet.
		s.clock.runUntil(s.clock.now + int64(10*time.Millisecond))
		if err := s.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		s.clock.runUntil(s.clock.now + int64(20*time.Millisecond))
		got := s.net.stats
		held, released, cut := got.Held-before.Held, got.Released-before.Released, got.Cut-before.Cut
		if hold && (held != 5 || released != 5 || cut != 0) || !hold && (held != 0 || released != 0 || cut != 5) {
			t.Fatalf("hold %v: held %d, released %d, cut %d", hold, held, released, cut)
		}
	}
}

// A one-way cut drops one direction of a link only.
func TestOneWayCutIsOneWay(t *testing.T) {
	s := netSim(t, 0)
	n := s.network()
	k := len(s.ids)
	// n1 -> n2 is cut for the whole second; n2 -> n1 never.
	n.oneWay[0*k+1] = episodes{rng: harness.Stream(1, "x"), every: 1, span: 1, start: 0, end: int64(time.Hour)}
	if !n.oneWay[0*k+1].active(s.clock.now) || n.oneWay[1*k+0].active(s.clock.now) {
		t.Fatal("setup: the episodes are not as set")
	}
	s.transmit(s.nodes[0], raft.Message{Type: raft.MsgHeartbeat, From: "n1", To: "n2"}, s.nodes[1])
	s.transmit(s.nodes[1], raft.Message{Type: raft.MsgHeartbeat, From: "n2", To: "n1"}, s.nodes[0])
	if n.stats.OneWayCut != 1 {
		t.Fatalf("one-way cuts %d, want 1 (n1->n2 only)", n.stats.OneWayCut)
	}
}

// A paused process's last writes wait for its resume; a killed one's
// are lost.
func TestPausedSenderHoldsItsWrites(t *testing.T) {
	for _, kill := range []bool{false, true} {
		s := netSim(t, 0)
		ctx := context.Background()
		s.transmit(s.nodes[0], raft.Message{Type: raft.MsgHeartbeat, From: "n1", To: "n2"}, s.nodes[1])
		if err := s.Pause(ctx, "n1"); err != nil { // before the message arrives
			t.Fatal(err)
		}
		s.clock.runUntil(s.clock.now + int64(100*time.Millisecond))
		if s.net.stats.OutboundHeld != 1 {
			t.Fatalf("held by the paused sender: %d, want 1", s.net.stats.OutboundHeld)
		}
		delivered := s.net.stats.Delivered
		if kill {
			if err := s.Kill(ctx, "n1"); err != nil {
				t.Fatal(err)
			}
		} else if err := s.Resume(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		s.clock.runUntil(s.clock.now + int64(3*time.Millisecond))
		// Still within the first election timeout: no other traffic.
		if got := s.net.stats.Delivered - delivered; kill && got != 0 || !kill && got == 0 {
			t.Fatalf("kill %v: %d delivered after the resume", kill, got)
		}
	}
}

// A message to a process that is down reaches it if it restarts within
// the redial window, and is lost if it stays down longer.
func TestRedialReachesRestartedNode(t *testing.T) {
	for _, down := range []time.Duration{5 * time.Millisecond, 100 * time.Millisecond} {
		s := netSim(t, 0)
		s.net.cfg.RedialWindow = 50 * time.Millisecond
		ctx := context.Background()
		if err := s.Kill(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		s.transmit(s.nodes[0], raft.Message{Type: raft.MsgHeartbeat, From: "n1", To: "n2"}, s.nodes[1])
		s.clock.runUntil(s.clock.now + int64(down))
		if err := s.Start(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		// Within the first election timeout: no other traffic.
		s.clock.runUntil(s.clock.now + int64(3*time.Millisecond))
		want := map[bool]uint64{true: 1, false: 0}[down < 50*time.Millisecond]
		if s.net.stats.Redialed != want || s.net.stats.Delivered != want {
			t.Fatalf("down %v: redialed %d, delivered %d, want %d", down, s.net.stats.Redialed, s.net.stats.Delivered, want)
		}
	}
}
