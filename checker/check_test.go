package checker

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func check(t *testing.T, h *hist) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Check(ctx, h.events)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name string
		h    *hist
		want Verdict
	}{
		{"empty", &hist{}, Valid},
		{"write then read", (&hist{}).write(0, "a", 1, OK).read(1, "a", 1), Valid},
		{"info write took effect", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Write, "a", IntValue(2)).done(1, Info, Write, "a", IntValue(2)).
			read(2, "a", 2), Valid},
		{"info write did not take effect", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Write, "a", IntValue(2)).done(1, Info, Write, "a", IntValue(2)).
			read(2, "a", 1), Valid},
		{"info write took effect late", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Write, "a", IntValue(2)).done(1, Info, Write, "a", IntValue(2)).
			read(2, "a", 1).read(2, "a", 2), Valid},
		{"info write cannot take effect twice", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Write, "a", IntValue(2)).done(1, Info, Write, "a", IntValue(2)).
			read(2, "a", 2).write(2, "a", 3, OK).read(2, "a", 2), Invalid},
		{"never-completed write took effect", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Write, "a", IntValue(2)).read(2, "a", 2), Valid},
		{"same history without the info write", (&hist{}).write(0, "a", 1, OK).read(2, "a", 2), Invalid},
		{"stale read", (&hist{}).write(0, "a", 1, OK).write(0, "a", 2, OK).
			read(1, "a", 2).read(2, "a", 1), Invalid},
		{"lost write", (&hist{}).write(0, "a", 1, OK).write(1, "a", 2, OK).read(2, "a", 1), Invalid},
		{"concurrent write may be seen either way", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Write, "a", IntValue(2)).read(2, "a", 1).read(2, "a", 2).done(1, OK, Write, "a", IntValue(2)), Valid},
		{"cas chain", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 1, 2, OK).cas(2, "a", 2, 3, OK).read(0, "a", 3), Valid},
		{"cas applied twice", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 1, 2, OK).cas(2, "a", 1, 2, OK), Invalid},
		{"concurrent cas applied twice", (&hist{}).write(0, "a", 1, OK).
			invoke(1, CAS, "a", PairValue(1, 2)).invoke(2, CAS, "a", PairValue(1, 2)).
			done(1, OK, CAS, "a", PairValue(1, 2)).done(2, OK, CAS, "a", PairValue(1, 2)).read(0, "a", 2), Invalid},
		{"cas on unset register", (&hist{}).cas(1, "a", 0, 1, OK), Invalid},
		{"failed cas dropped", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 5, 6, Fail).read(2, "a", 1), Valid},
		{"failed write dropped", (&hist{}).write(0, "a", 1, OK).write(1, "a", 2, Fail).read(2, "a", 1), Valid},
		{"failed write seen", (&hist{}).write(0, "a", 1, OK).write(1, "a", 2, Fail).read(2, "a", 2), Invalid},
		{"info cas took effect", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 1, 2, Info).read(2, "a", 2), Valid},
		{"info cas did not", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 1, 2, Info).read(2, "a", 1).read(2, "a", 2), Valid},
		{"info cas undone", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 1, 2, Info).read(2, "a", 2).read(2, "a", 1), Invalid},
		{"info cas that cannot match", (&hist{}).write(0, "a", 1, OK).cas(1, "a", 5, 2, Info).read(2, "a", 2), Invalid},
		{"info read constrains nothing", (&hist{}).write(0, "a", 1, OK).
			invoke(1, Read, "a", nil).done(1, Info, Read, "a", nil).read(2, "a", 1), Valid},
		{"read of a value never written", (&hist{}).write(0, "a", 1, OK).read(1, "a", 7), Invalid},
		{"read null before any write", (&hist{}).readNull(1, "a").write(0, "a", 1, OK), Valid},
		{"read null after a completed write", (&hist{}).write(0, "a", 1, OK).readNull(1, "a"), Invalid},
		{"unset is not zero", (&hist{}).read(1, "a", 0), Invalid},
		{"keys are independent", (&hist{}).write(0, "a", 1, OK).write(0, "b", 2, OK).read(1, "a", 1).read(1, "b", 2), Valid},
		{"nemesis events ignored", (&hist{}).nemesis(Invoke, "kill", StringValue("n1")).write(0, "a", 1, OK).
			nemesis(Info, "kill", nil).read(1, "a", 1), Valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := check(t, tt.h).Verdict; got != tt.want {
				t.Fatalf("verdict %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResultPerKey(t *testing.T) {
	h := (&hist{}).
		write(0, "a", 1, OK).write(0, "a", 2, OK).read(1, "a", 1). // a: lost write
		write(2, "b", 1, Fail).cas(2, "b", 1, 2, Fail).            // b: nothing happened
		write(3, "c", 5, OK).cas(3, "c", 5, 6, Info).readNull(4, "d").
		invoke(5, Read, "c", nil) // never completes
	res := check(t, h)
	want := []KeyResult{
		{Key: "a", Verdict: Invalid, Counts: Counts{OK: 3}},
		{Key: "b", Verdict: Valid, Counts: Counts{Fail: 2}},
		{Key: "c", Verdict: Valid, Counts: Counts{OK: 1, Info: 2}},
		{Key: "d", Verdict: Valid, Counts: Counts{OK: 1}},
	}
	if !reflect.DeepEqual(res.Keys, want) {
		t.Fatalf("keys %+v\nwant %+v", res.Keys, want)
	}
	if res.Verdict != Invalid || res.Counts != (Counts{OK: 5, Fail: 2, Info: 2}) {
		t.Fatalf("verdict %v counts %+v", res.Verdict, res.Counts)
	}
	if got := res.Failing(); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("failing %v", got)
	}
	if _, ok := res.LinearizationInfo("a"); !ok {
		t.Fatal("no linearization info kept for the failing key")
	}
	if _, ok := res.LinearizationInfo("b"); ok {
		t.Fatal("linearization info kept for a valid key")
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"verdict":"invalid","counts":{"ok":5,"fail":2,"info":2},"keys":[{"key":"a","verdict":"invalid"`) {
		t.Fatalf("json %s", b)
	}
}

func TestOperations(t *testing.T) {
	h := (&hist{}).write(0, "a", 1, OK).cas(1, "a", 1, 2, Fail).
		invoke(2, Read, "a", nil).done(2, Info, Read, "a", nil).
		invoke(3, CAS, "a", PairValue(1, 3))
	ops, err := Operations(h.events)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 {
		t.Fatalf("%d operations, want 3 (the failed cas dropped)", len(ops))
	}
	if ops[0].Call != 10 || ops[0].Return != 20 || ops[0].Output != (Output{Known: true}) {
		t.Fatalf("write %+v", ops[0])
	}
	for _, op := range ops[1:] {
		if op.Return != math.MaxInt64 || op.Output.(Output).Known {
			t.Fatalf("unknown outcome not open-ended: %+v", op)
		}
	}
	if ops[2].Input != (Input{F: CAS, Key: "a", Value: 1, To: 3}) || ops[2].ClientId != 3 {
		t.Fatalf("cas %+v", ops[2])
	}
	bad := append(h.events[:1:1], Event{Index: 1, Process: 0, Type: OK, F: Write, Key: "a", Value: IntValue(1)})
	if _, err := Operations(bad); err == nil || !strings.Contains(err.Error(), "event 1") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Check(context.Background(), bad); err == nil {
		t.Fatal("Check accepted an inconsistent history")
	}
}

func TestVerdictText(t *testing.T) {
	for _, v := range []Verdict{Unknown, Valid, Invalid} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back Verdict
		if err := json.Unmarshal(b, &back); err != nil || back != v || `"`+v.String()+`"` != string(b) {
			t.Fatalf("%v -> %s -> %v (%v)", v, b, back, err)
		}
	}
	var zero Verdict
	if zero != Unknown || zero.ExitCode() != 2 || Valid.ExitCode() != 0 || Invalid.ExitCode() != 1 {
		t.Fatal("zero verdict or exit codes wrong")
	}
	if err := json.Unmarshal([]byte(`"ok"`), &zero); err == nil {
		t.Fatal(`"ok" accepted as a verdict`)
	}
	if _, err := json.Marshal(Verdict(7)); err == nil {
		t.Fatal("Verdict(7) marshalled")
	}
}

// pathological is a history porcupine can only refute by trying every
// subset of n concurrent writes: a read overlapping them all returns a value
// none of them wrote, and completes before any of them.
func pathological(n int) *hist {
	h := &hist{}
	h.invoke(0, Read, "a", nil)
	for i := 1; i <= n; i++ {
		h.invoke(i, Write, "a", IntValue(int64(i)))
	}
	h.done(0, OK, Read, "a", IntValue(-1))
	for i := 1; i <= n; i++ {
		h.done(i, OK, Write, "a", IntValue(int64(i)))
	}
	return h
}

func TestDeadlineGivesUnknown(t *testing.T) {
	h := pathological(40)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Check(ctx, h.events)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("check took %v with a 1 ms deadline", elapsed)
	}
	if res.Verdict != Unknown || res.Keys[0].Verdict != Unknown {
		t.Fatalf("verdict %v, want unknown", res.Verdict)
	}
	if got := res.Failing(); len(got) != 1 {
		t.Fatalf("failing %v, want the unknown key", got)
	}
}

func TestCancelGivesUnknown(t *testing.T) {
	h := pathological(40)
	ctx, cancel := context.WithCancel(context.Background()) // no deadline
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	res, err := Check(ctx, h.events)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("check took %v after cancellation", elapsed)
	}
	if res.Verdict != Unknown {
		t.Fatalf("verdict %v, want unknown", res.Verdict)
	}
}

func TestSmallPathologicalIsInvalid(t *testing.T) {
	// The same shape, small enough to finish: the 40-write one above is
	// unknown because of the deadline, not because the model is lenient.
	if got := check(t, pathological(6)).Verdict; got != Invalid {
		t.Fatalf("verdict %v, want invalid", got)
	}
}
