package checker

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNemesisAnnotations(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "partition", []byte(`[["n1"],["n2","n3"]]`)).nemesis(Info, "partition", nil). // 10..20
		nemesis(Invoke, "kill", StringValue("n1")).nemesis(Info, "kill", nil).                        // 30..40
		nemesis(Invoke, "kill", StringValue("n2")).nemesis(Info, "kill", nil).                        // 50..60
		nemesis(Invoke, "start", StringValue("n2")).nemesis(Info, "start", nil).                      // 70..80
		nemesis(Invoke, "heal", nil).nemesis(Info, "heal", nil).                                      // 90..100
		nemesis(Invoke, "pause", StringValue("n3")).nemesis(Info, "pause", nil).                      // 110..120
		nemesis(Invoke, "heal", nil).nemesis(Info, "heal", StringValue("nothing to heal")).           // 130..140
		write(0, "a", 1, OK)                                                                          // 150..160
	type ann struct {
		tag, desc  string
		start, end int64
		fault      bool
	}
	var got []ann
	details := map[string]string{}
	for _, a := range nemesisAnnotations(h.events) {
		got = append(got, ann{a.Tag, a.Description, a.Start, a.End, a.BackgroundColor != ""})
		details[fmt.Sprint(a.Start)] = a.Details
	}
	want := []ann{
		{"nemesis", "partition", 10, 100, true},
		{"nemesis 2", "kill", 30, 160, true}, // never restarted: open to the end
		{"nemesis 3", "kill", 50, 80, true},  // start n2 ends kill n2, not the older kill n1
		{"nemesis", "pause", 110, 160, true},
		{"nemesis 3", "heal", 130, 140, false}, // nothing to heal: an action of its own
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("annotations\n%+v\nwant\n%+v", got, want)
	}
	for start, sub := range map[string]string{
		"10":  "partition [[\"n1\"],[\"n2\",\"n3\"]] at 10ns (event 0), done at 20ns (event 1)\nended by heal at 90ns",
		"30":  "never ended",
		"50":  "ended by start n2",
		"130": "nothing to heal",
	} {
		if !strings.Contains(details[start], sub) {
			t.Errorf("details at %s = %q, want %q in it", start, details[start], sub)
		}
	}
}

func TestWriteHTMLSelectsKeys(t *testing.T) {
	h := (&hist{}).
		nemesis(Invoke, "kill", StringValue("n1")).nemesis(Info, "kill", nil).
		write(0, "a", 1, OK).read(1, "a", 7). // a: invalid
		write(0, "b", 1, OK).read(1, "b", 1). // b: valid
		write(0, "c", 1, OK).readNull(1, "c") // c: invalid
	res := check(t, h)
	render := func(opts HTMLOptions) string {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, res, h.events, opts); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	failing := render(HTMLOptions{})
	for _, s := range []string{"read(a) -\\u003e 7", "read(c) -\\u003e null", `"Tag":"nemesis"`, "process 1, events"} {
		if !strings.Contains(failing, s) {
			t.Errorf("failing-only view lacks %q", s)
		}
	}
	if strings.Contains(failing, "write(b, 1)") {
		t.Error("failing-only view shows the valid key b")
	}
	if all := render(HTMLOptions{All: true}); !strings.Contains(all, "write(b, 1)") {
		t.Error("the All view lacks key b")
	}

	// One failing key: the check's own info is rendered, no re-check.
	h2 := (&hist{}).write(0, "a", 1, OK).read(1, "a", 7).write(0, "b", 1, OK)
	res2 := check(t, h2)
	var buf bytes.Buffer
	if err := WriteHTML(&buf, res2, h2.events, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "read(a)") || strings.Contains(s, "write(b, 1)") {
		t.Error("single failing key view wrong")
	}

	// Nothing failing: a page with the nemesis only, not an error.
	h3 := (&hist{}).nemesis(Invoke, "kill", nil).nemesis(Info, "kill", nil).write(0, "a", 1, OK)
	buf.Reset()
	if err := WriteHTML(&buf, check(t, h3), h3.events, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"Partitions":[]`) {
		t.Error("valid history rendered partitions")
	}
}

// synthetic builds a linearizable history of n operations over keys k0..k99
// by 10 concurrent client slots: each operation takes effect at a random
// instant inside its interval; about 1% time out (info, and the slot takes a
// new process number); a partition/heal cycle runs throughout.
func synthetic(n int, seed uint64) []Event { return syntheticKeys(n, 100, seed) }

// syntheticKeys is synthetic over keys k0..k(keys-1).
func syntheticKeys(n, keys int, seed uint64) []Event {
	type op struct {
		p                  int
		f, key             string
		arg, to            int64
		inv, lin, ret      int64
		outcome            Type
		result             int64
		resultSet, applied bool
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	const slots = 10
	procs := make([]int, slots)
	clocks := make([]int64, slots)
	for i := range procs {
		procs[i] = i
	}
	ops := make([]op, n)
	for i := range ops {
		s := slices.Index(clocks, slices.Min(clocks)) // the slot free first
		o := op{p: procs[s], key: fmt.Sprintf("k%d", rng.IntN(keys)), outcome: OK}
		o.inv = clocks[s] + rng.Int64N(100)
		o.lin = o.inv + 1 + rng.Int64N(1000)
		o.ret = o.lin + 1 + rng.Int64N(1000)
		switch r := rng.IntN(10); {
		case r < 5:
			o.f = Read
		case r < 8:
			o.f, o.arg = Write, 1+rng.Int64N(5)
		default:
			o.f, o.arg, o.to = CAS, 1+rng.Int64N(5), 1+rng.Int64N(5)
		}
		if rng.IntN(100) == 0 {
			o.outcome = Info
			procs[s] += slots // a process whose outcome is unknown is never reused
		}
		clocks[s] = o.ret
		ops[i] = o
	}
	// Apply in linearization order to learn each result.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ops[a].lin, ops[b].lin) })
	state := map[string]int64{}
	for _, i := range order {
		o := &ops[i]
		if o.outcome == Info && rng.IntN(2) == 0 {
			continue // timed out before taking effect
		}
		v, set := state[o.key]
		switch o.f {
		case Read:
			o.result, o.resultSet = v, set
		case Write:
			state[o.key] = o.arg
		case CAS:
			if set && v == o.arg {
				state[o.key] = o.to
			} else if o.outcome == OK {
				o.outcome = Fail
			}
		}
	}
	type timed struct {
		t     int64
		first bool // completions before invocations at the same instant
		e     Event
	}
	var all []timed
	var end int64
	for _, o := range ops {
		v := IntValue(o.arg)
		if o.f == CAS {
			v = PairValue(o.arg, o.to)
		} else if o.f == Read {
			v = nil
		}
		all = append(all, timed{o.inv, false, Event{Time: o.inv, Process: o.p, Type: Invoke, F: o.f, Key: o.key, Value: v}})
		if o.f == Read && o.outcome == OK && o.resultSet {
			v = IntValue(o.result)
		}
		all = append(all, timed{o.ret, true, Event{Time: o.ret, Process: o.p, Type: o.outcome, F: o.f, Key: o.key, Value: v}})
		end = max(end, o.ret)
	}
	for t := int64(0); t < end; t += end / 20 {
		f := "partition"
		if (t/(end/20))%2 == 1 {
			f = "heal"
		}
		all = append(all,
			timed{t, false, Event{Nemesis: true, Time: t, Type: Invoke, F: f}},
			timed{t + 50, false, Event{Nemesis: true, Time: t + 50, Type: Info, F: f, Value: StringValue("done")}})
	}
	slices.SortStableFunc(all, func(a, b timed) int {
		if c := cmp.Compare(a.t, b.t); c != 0 {
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
	return events
}

func TestLargeHistoryRendersSmall(t *testing.T) {
	events := synthetic(20000, 1)
	// Break one key: a read sees a value no one wrote.
	broken := -1
	for i, e := range events {
		if e.Key == "k42" && e.F == Read && e.Type == OK && e.Value != nil {
			events[i].Value = IntValue(999999)
			broken = i
			break
		}
	}
	if broken < 0 {
		t.Fatal("no ok read of k42 to break")
	}
	// The history is a legal file.
	if _, err := ReadAll(bytes.NewReader(encode(t, events))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Check(ctx, events)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Invalid || !reflect.DeepEqual(res.Failing(), []string{"k42"}) {
		t.Fatalf("verdict %v, failing %v; want invalid, [k42]", res.Verdict, res.Failing())
	}
	if c := res.Counts; c.OK+c.Fail+c.Info != 20000 || c.Info == 0 || c.Fail == 0 {
		t.Fatalf("counts %+v", c)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, res, events, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	const limit = 20 << 20
	t.Logf("20,000 operations, one failing key: %d bytes of HTML", buf.Len())
	if buf.Len() >= limit {
		t.Fatalf("HTML is %d bytes, want under %d", buf.Len(), limit)
	}
	html := buf.String()
	if !strings.Contains(html, "read(k42) -\\u003e 999999") || !strings.Contains(html, `"Tag":"nemesis"`) {
		t.Fatal("the view lacks the broken read or the nemesis")
	}
	if strings.Contains(html, "(k17)") || strings.Contains(html, "(k17,") {
		t.Fatal("the view shows a valid key")
	}
}

func TestSyntheticIsValid(t *testing.T) {
	// The generator's own check: unbroken, its history must be valid, or the
	// test above would prove nothing.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Check(ctx, synthetic(5000, 2))
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Valid {
		t.Fatalf("verdict %v, failing %v", res.Verdict, res.Failing())
	}
}
