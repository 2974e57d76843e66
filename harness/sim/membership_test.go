package sim

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A run of the membership nemesis (with the other faults) is valid and
// live, its changes bit (each node's configuration changed), slots came
// back under new member IDs, and the same seed replays byte for byte.
func TestMembershipRunValidAndReplays(t *testing.T) {
	const seed = 5
	tc := testConfig(seed, 20*time.Second, "")
	tc.Nemesis = []string{"kill", "pause", "membership"} // no partitions: no Figure 8 choreography
	tc, a := simulate(t, tc)
	res := check(t, a.Outcome.Events)
	if res.Verdict.String() != "valid" || a.Outcome.Invariant != "" || a.Outcome.NotLive != "" {
		t.Fatalf("seed %d: %v (keys %v), invariant %q, not live %q", seed, res.Verdict, res.Failing(), a.Outcome.Invariant, a.Outcome.NotLive)
	}
	changes, readded := 0, false
	for _, f := range a.Outcome.Faults {
		if !strings.HasPrefix(f.Action, "remove") && !strings.HasPrefix(f.Action, "replace") &&
			!strings.HasPrefix(f.Action, "transfer-leader") && !strings.HasPrefix(f.Action, "propose") {
			continue
		}
		changes++
		// A transfer may abort honestly (another node took over first);
		// a change of the configuration must bite.
		if (f.Bit == nil || !*f.Bit) && !strings.HasPrefix(f.Action, "transfer-leader") {
			t.Errorf("%s did not bite: %s", f.Action, f.Evidence)
		}
		readded = readded || strings.Contains(f.Evidence, "as member n")
	}
	if changes < 3 || !readded {
		t.Fatalf("seed %d: %d membership changes, a slot re-added: %v; faults %+v", seed, changes, readded, a.Outcome.Faults)
	}
	fin, err := Run(t.Context(), tc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(historyBytes(t, a.Outcome.Events), historyBytes(t, fin.Outcome.Events)) {
		t.Fatal("the membership run did not replay byte for byte")
	}
}

// With config-before-noop a leader proposes a change before its no-op
// commits; the conf-strike choreography makes that overlap an earlier
// leader's change, and the run is caught.
func TestMembershipCatchesConfigBeforeNoop(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		tc := testConfig(seed, 20*time.Second, "config-before-noop")
		tc.Nemesis = []string{"partition", "kill", "pause", "membership"}
		_, fin := simulate(t, tc)
		if fin.Outcome.Invariant != "" || check(t, fin.Outcome.Events).Verdict.String() == "invalid" {
			t.Logf("seed %d caught it: %s", seed, fin.Outcome.Invariant)
			return
		}
	}
	t.Fatal("40 seeds of membership changes never caught config-before-noop")
}
