package checker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// spec is one operation of a hand-built history, times in milliseconds.
// ret < 0: never completed.
type spec struct {
	p        int
	f, key   string
	arg      json.RawMessage // the invocation's value
	res      json.RawMessage // the completion's value
	outcome  Type
	inv, ret int64
}

// nem is one nemesis action of a hand-built history.
type nem struct {
	f        string
	v        json.RawMessage
	inv, ret int64
}

func wr(p int, key string, v, inv, ret int64) spec {
	return spec{p, Write, key, IntValue(v), IntValue(v), OK, inv, ret}
}

func wrInfo(p int, key string, v, inv, ret int64) spec {
	return spec{p, Write, key, IntValue(v), IntValue(v), Info, inv, ret}
}

func rd(p int, key string, v, inv, ret int64) spec {
	return spec{p, Read, key, nil, IntValue(v), OK, inv, ret}
}

func cs(p int, key string, from, to, inv, ret int64) spec {
	return spec{p, CAS, key, PairValue(from, to), PairValue(from, to), OK, inv, ret}
}

// build lays out the events by time, completions before invocations at
// the same instant, and numbers them.
func build(t testing.TB, ops []spec, nems []nem) []Event {
	t.Helper()
	type timed struct {
		at    int64
		first bool
		e     Event
	}
	var all []timed
	for _, o := range ops {
		all = append(all, timed{o.inv, false, Event{Time: o.inv * 1e6, Process: o.p, Type: Invoke, F: o.f, Key: o.key, Value: o.arg}})
		if o.ret >= 0 {
			all = append(all, timed{o.ret, true, Event{Time: o.ret * 1e6, Process: o.p, Type: o.outcome, F: o.f, Key: o.key, Value: o.res}})
		}
	}
	for _, n := range nems {
		all = append(all, timed{n.inv, false, Event{Time: n.inv * 1e6, Nemesis: true, Type: Invoke, F: n.f, Value: n.v}},
			timed{n.ret, true, Event{Time: n.ret * 1e6, Nemesis: true, Type: Info, F: n.f}})
	}
	slices.SortStableFunc(all, func(a, b timed) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if a.first != b.first {
			if a.first {
				return -1
			}
			return 1
		}
		return 0
	})
	events := make([]Event, len(all))
	for i, x := range all {
		events[i] = x.e
		events[i].Index = i
	}
	// The history must be one the Reader accepts.
	if _, err := ReadAll(bytes.NewReader(encode(t, events))); err != nil {
		t.Fatal(err)
	}
	return events
}

// statuses: n1 leads term 2 until it is killed at 300 ms; n2 leads term 3
// from 350 ms; n3 follows.
func statuses() []StatusSample {
	var out []StatusSample
	for ms := int64(0); ms <= 600; ms += 50 {
		t := ms * 1e6
		if ms < 300 {
			out = append(out, StatusSample{Time: t, Node: "n1", Up: true, Role: "leader", Term: 2, Leader: "n1"},
				StatusSample{Time: t, Node: "n2", Up: true, Role: "follower", Term: 2, Leader: "n1"})
		} else {
			out = append(out, StatusSample{Time: t, Node: "n1"})
			if ms < 350 {
				out = append(out, StatusSample{Time: t, Node: "n2", Up: true, Role: "candidate", Term: 3})
			} else {
				out = append(out, StatusSample{Time: t, Node: "n2", Up: true, Role: "leader", Term: 3, Leader: "n2"})
			}
		}
		leader := "n1"
		if ms >= 350 {
			leader = "n2"
		}
		out = append(out, StatusSample{Time: t, Node: "n3", Up: true, Role: "follower", Term: 2 + uint64(ms/350), Leader: leader})
	}
	return out
}

func explainCases() map[string]struct {
	ops  []spec
	nems []nem
	want Anomaly
} {
	partition := nem{"partition", []byte(`{"f":"partition","name":"halves","nodes":["n1"]}`), 250, 260}
	kill := nem{"kill", []byte(`{"f":"kill","name":"kill-leader","nodes":["n1"]}`), 290, 300}
	return map[string]struct {
		ops  []spec
		nems []nem
		want Anomaly
	}{
		// p3 reads 3 after 5 was acknowledged and seen; k9 is noise.
		"stale-read": {ops: []spec{
			wr(0, "k8", 1, 100, 120), rd(1, "k8", 1, 130, 140), wr(2, "k8", 3, 150, 160), wr(4, "k9", 1, 150, 170),
			rd(1, "k8", 3, 170, 180), wr(7, "k8", 5, 200, 380), rd(4, "k9", 1, 300, 310), rd(1, "k8", 5, 390, 400),
			rd(3, "k8", 3, 395, 410), rd(1, "k8", 5, 420, 430), wr(2, "k8", 6, 440, 450),
		}, nems: []nem{partition, kill, {"heal", nil, 500, 510}}, want: StaleRead},
		// 2 was acknowledged, then nobody ever saw it.
		"lost-write": {ops: []spec{
			wr(0, "k1", 1, 100, 110), rd(1, "k1", 1, 120, 130), wr(2, "k1", 2, 140, 160),
			rd(1, "k1", 1, 170, 180), rd(3, "k1", 1, 190, 200), wr(0, "k1", 4, 210, 220), rd(1, "k1", 4, 230, 240),
		}, nems: []nem{kill}, want: LostWrite},
		// The timed-out write of 2, the only write of 2, shows up before
		// and after the acknowledged write of 3.
		"duplicate-apply": {ops: []spec{
			wr(9, "k2", 1, 50, 60), wrInfo(0, "k2", 2, 100, 300), rd(1, "k2", 2, 150, 160), wr(2, "k2", 3, 200, 210),
			rd(3, "k2", 3, 220, 230), rd(4, "k2", 2, 240, 250), rd(5, "k2", 2, 260, 270),
		}, want: DuplicateApply},
		// The same with a write that never completed, and a pending write
		// of 9 that nothing saw, which the explanation leaves out.
		"duplicate-apply-pending": {ops: []spec{
			wr(9, "k5", 1, 50, 60), {0, Write, "k5", IntValue(2), nil, Invoke, 100, -1}, {8, Write, "k5", IntValue(9), nil, Invoke, 120, -1},
			rd(1, "k5", 2, 150, 160), wr(2, "k5", 3, 200, 210), rd(3, "k5", 3, 220, 230), rd(4, "k5", 2, 240, 250),
		}, want: DuplicateApply},
		// 7 was only ever written by a write that failed.
		"never-written": {ops: []spec{
			wr(0, "k3", 1, 100, 110), {1, Write, "k3", IntValue(7), IntValue(7), Fail, 115, 118},
			rd(2, "k3", 1, 120, 130), rd(3, "k3", 7, 140, 150), rd(2, "k3", 1, 160, 170),
		}, want: NeverWritten},
		// Two cas 1->2 both succeed, nothing put 1 back.
		"cas-twice": {ops: []spec{
			wr(0, "k4", 1, 100, 110), cs(1, "k4", 1, 2, 120, 130), rd(2, "k4", 2, 140, 150), cs(3, "k4", 1, 2, 160, 170),
		}, want: DuplicateApply},
	}
}

func TestExplainGolden(t *testing.T) {
	for name, tc := range explainCases() {
		t.Run(name, func(t *testing.T) {
			events := build(t, tc.ops, tc.nems)
			res, err := Check(context.Background(), events)
			if err != nil {
				t.Fatal(err)
			}
			keys := res.Failing()
			if res.Verdict != Invalid || len(keys) != 1 {
				t.Fatalf("verdict %v on %v, want one invalid key", res.Verdict, keys)
			}
			var st []StatusSample
			if name == "stale-read" {
				st = statuses()
			}
			x, err := Explain(context.Background(), events, keys[0], ExplainOptions{Statuses: st})
			if err != nil {
				t.Fatal(err)
			}
			if x.Anomaly != tc.want {
				t.Errorf("anomaly %q, want %q", x.Anomaly, tc.want)
			}
			if !x.Minimal {
				t.Error("not minimal: the search ran out of time on a dozen operations")
			}
			assertProves(t, events, x)
			golden(t, filepath.Join("testdata", "explain", name+".golden"), x.Text())
			// Starting from where porcupine got stuck finds the same.
			hinted, err := Explain(context.Background(), events, keys[0], ExplainOptions{Statuses: st, Result: &res})
			if err != nil || hinted.Text() != x.Text() {
				t.Errorf("with the check's result: %v\n%s", err, hinted.Text())
			}
		})
	}
}

// assertProves re-checks the explanation's operations, as they happened,
// on their own: they must not be linearizable.
func assertProves(t *testing.T, events []Event, x *Explanation) {
	t.Helper()
	keep := make(map[int]bool) // event index -> kept
	for _, op := range x.ops {
		m := op.Metadata.(opMeta)
		keep[m.invoke] = true
		if m.outcome != Invoke {
			keep[m.complete] = true
		}
	}
	var sub []Event
	for _, e := range events {
		if keep[e.Index] {
			e.Index = len(sub)
			sub = append(sub, e)
		}
	}
	res, err := Check(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Invalid {
		t.Fatalf("the explanation's %d operations alone are %v, want invalid", len(sub)/2, res.Verdict)
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./checker -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("explanation differs from %s (-update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestExplainValidHistory(t *testing.T) {
	events := build(t, []spec{
		wr(0, "k1", 1, 100, 110), rd(1, "k1", 1, 120, 130), wrInfo(2, "k1", 2, 140, 300), rd(1, "k1", 2, 200, 210),
	}, nil)
	x, err := Explain(context.Background(), events, "k1", ExplainOptions{})
	if !errors.Is(err, ErrNotExplained) || x != nil {
		t.Fatalf("Explain of a valid key: %v, %v; want ErrNotExplained", x, err)
	}
	// A write that never completed may take effect at any time after.
	events = build(t, []spec{
		wr(0, "k1", 1, 100, 110), {2, Write, "k1", IntValue(2), nil, Invoke, 140, -1}, rd(1, "k1", 2, 200, 210), rd(1, "k1", 2, 220, 230),
	}, nil)
	x, err = Explain(context.Background(), events, "k1", ExplainOptions{})
	if !errors.Is(err, ErrNotExplained) || x != nil {
		t.Fatalf("Explain of a valid key: %v, %v; want ErrNotExplained", x, err)
	}
	res, err := Check(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Explain(context.Background(), events, "k1", ExplainOptions{Result: &res}); !errors.Is(err, ErrNotExplained) ||
		!strings.Contains(err.Error(), "linearizable") {
		t.Fatalf("Explain of a key the check found valid: %v", err)
	}
	if _, err := Explain(context.Background(), events, "absent", ExplainOptions{}); !errors.Is(err, ErrNotExplained) {
		t.Fatalf("Explain of an absent key: %v; want ErrNotExplained", err)
	}
}

// A read made stale inside a key's long history (3000 operations, 10
// clients at once, 30 of unknown outcome: the whole key takes porcupine
// about half a minute): the search looks only as far as the violation,
// and the explanation is a handful of operations, proven, found within its
// time bound.
func TestExplainLongKey(t *testing.T) {
	events := breakRead(t, syntheticKeys(3000, 1, 5), 608, func(v int64) int64 { return v%5 + 1 })
	start := time.Now()
	x, err := Explain(context.Background(), events, "k0", ExplainOptions{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("3000 operations on one key: %d kept in %v: %s", len(x.ops), time.Since(start).Round(time.Millisecond), x.Headline)
	if len(x.ops) > 12 || !x.Minimal {
		t.Errorf("explanation keeps %d operations (minimal %v):\n%s", len(x.ops), x.Minimal, x.Text())
	}
	assertProves(t, events, x)
	var buf bytes.Buffer
	if err := x.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 200<<10 {
		t.Errorf("the view is %d bytes, want a small one", buf.Len())
	}
}

// A read of a value nobody wrote is one operation, found without a search.
func TestExplainUnwrittenInLongKey(t *testing.T) {
	events := breakRead(t, syntheticKeys(3000, 1, 5), 600, func(int64) int64 { return 999999 })
	x, err := Explain(context.Background(), events, "k0", ExplainOptions{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(x.ops) != 1 || x.Anomaly != NeverWritten {
		t.Fatalf("%d operations, %q:\n%s", len(x.ops), x.Anomaly, x.Text())
	}
	assertProves(t, events, x)
}

// The bound holds: a tiny budget returns quickly, with a proven (if not
// minimal) set or no explanation at all.
func TestExplainBounded(t *testing.T) {
	events := breakRead(t, syntheticKeys(3000, 1, 5), 1500, func(int64) int64 { return 999999 })
	start := time.Now()
	x, err := Explain(context.Background(), events, "k0", ExplainOptions{Timeout: 30 * time.Millisecond})
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a 30 ms explanation took %v", took)
	}
	switch {
	case errors.Is(err, ErrNotExplained):
	case err != nil:
		t.Fatal(err)
	default:
		assertProves(t, events, x)
	}
}

// breakRead changes the value of the first ok read, with a value, at or
// after event at.
func breakRead(t testing.TB, events []Event, at int, to func(int64) int64) []Event {
	for i := at; i < len(events); i++ {
		if e := events[i]; e.F == Read && e.Type == OK && e.Value != nil {
			v, _ := e.Int()
			events[i].Value = IntValue(to(v))
			return events
		}
	}
	t.Fatal("no ok read to break")
	return nil
}

func BenchmarkExplainLongKey(b *testing.B) {
	events := breakRead(b, syntheticKeys(3000, 1, 5), 608, func(v int64) int64 { return v%5 + 1 })
	for b.Loop() {
		if _, err := Explain(context.Background(), events, "k0", ExplainOptions{Timeout: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNodeStates(t *testing.T) {
	st := statuses()
	for _, c := range []struct {
		at   int64
		want string
	}{
		{-1, "n1 led term 2; n2, n3 followed n1 in term 2"}, // before every sample: the first
		{220e6, "n1 led term 2; n2, n3 followed n1 in term 2"},
		{320e6, "n1 was down; n2 stood for election in term 3; n3 followed n1 in term 2"},
		{10e9, "n1 was down; n2 led term 3; n3 followed n2 in term 3"},
	} {
		if got := nodeStates(st, c.at); got != c.want {
			t.Errorf("at %d: %q, want %q", c.at, got, c.want)
		}
	}
	got, err := ReadStatuses(strings.NewReader(`{"time":5,"node":"n1","up":true,"role":"leader","term":3,"leader":"n1","commit":120}` + "\n\n" +
		`{"time":6,"node":"n2","up":false}` + "\n"))
	if err != nil || len(got) != 2 || got[0] != (StatusSample{Time: 5, Node: "n1", Up: true, Role: "leader", Term: 3, Leader: "n1", Commit: 120}) {
		t.Fatalf("ReadStatuses: %+v, %v", got, err)
	}
	if _, err := ReadStatuses(strings.NewReader("{\"time\":1}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("ReadStatuses without a node: %v", err)
	}
}

// On small random histories, an explanation exists exactly when the check
// says invalid, and its operations alone are never linearizable.
func TestExplainRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	invalid := 0
	for n := range 400 {
		var ops []spec
		clock := make([]int64, 3)
		proc := []int{0, 1, 2}
		for range 4 + rng.IntN(10) {
			s := rng.IntN(3)
			o := spec{p: proc[s], key: "k", outcome: OK}
			o.inv = clock[s] + 1 + rng.Int64N(20)
			o.ret = o.inv + 1 + rng.Int64N(40)
			clock[s] = o.ret
			v := 1 + rng.Int64N(3)
			switch rng.IntN(3) {
			case 0:
				o.f, o.res = Read, IntValue(v)
			case 1:
				o.f, o.arg, o.res = Write, IntValue(v), IntValue(v)
			default:
				to := 1 + rng.Int64N(3)
				o.f, o.arg, o.res = CAS, PairValue(v, to), PairValue(v, to)
			}
			switch r := rng.IntN(20); {
			case r < 2:
				o.outcome = Info
				if o.f == Read {
					o.res = nil
				}
				proc[s] += 3
			case r < 3:
				o.outcome, o.ret, o.res = Invoke, -1, nil
				proc[s] += 3
				clock[s] = 1 << 40 // nothing more on this slot
			case r < 4 && o.f != Read:
				o.outcome = Fail
			}
			ops = append(ops, o)
		}
		events := build(t, ops, nil)
		res, err := Check(context.Background(), events)
		if err != nil {
			t.Fatal(err)
		}
		x, err := Explain(context.Background(), events, "k", ExplainOptions{})
		switch {
		case res.Verdict == Valid && !errors.Is(err, ErrNotExplained):
			t.Fatalf("history %d is valid, yet explained: %v\n%s", n, err, x.Text())
		case res.Verdict == Invalid && err != nil:
			t.Fatalf("history %d is invalid, not explained: %v", n, err)
		case res.Verdict == Invalid:
			invalid++
			assertProves(t, events, x)
			assertOneMinimal(t, x)
			if !(&search{ctx: context.Background()}).illegal(cands(x.shown), x.anyInit) {
				t.Fatalf("history %d: the view's operations can be ordered:\n%s", n, x.Text())
			}
		}
	}
	if invalid < 50 {
		t.Fatalf("only %d of 400 random histories were invalid: the test proves little", invalid)
	}
	t.Logf("%d of 400 invalid, each explained", invalid)
}

// assertOneMinimal: no operation of a minimal explanation can be dropped
// (soundly) with the rest still proven illegal.
func assertOneMinimal(t *testing.T, x *Explanation) {
	t.Helper()
	if !x.Minimal {
		return
	}
	cs := cands(x.ops)
	s := &search{ctx: context.Background()}
	for i := range cs {
		if len(droppable(cs, i, i+1)) == 0 {
			continue
		}
		rest := append(slices.Clone(cs[:i]), cs[i+1:]...)
		if s.illegal(rest, x.anyInit) {
			t.Fatalf("operation %d can go and the rest stays illegal:\n%s", i, x.Text())
		}
	}
}

func cands(ops []porcupine.Operation) []cand {
	cs := make([]cand, len(ops))
	for i, op := range ops {
		cs[i] = cand{op: op, orig: i}
	}
	return cs
}

// The workload's shape: 200 operations per key, a stale read in the
// middle of one.
func BenchmarkExplainTypicalKey(b *testing.B) {
	events := syntheticKeys(2000, 10, 3)
	at := -1
	for i, e := range events {
		if e.Key == "k3" && e.F == Read && e.Type == OK && e.Value != nil && i > len(events)/2 {
			at = i
			break
		}
	}
	if at < 0 {
		b.Fatal("no ok read of k3 to break")
	}
	events = breakRead(b, events, at, func(v int64) int64 { return v%5 + 1 })
	for b.Loop() {
		if _, err := Explain(context.Background(), events, "k3", ExplainOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
