package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/raftcheck/raftcheck/checker"
	"github.com/raftcheck/raftcheck/nemesis"
)

func historyBytes(t *testing.T, events []checker.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := checker.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestSimValid(t *testing.T) {
	start := time.Now()
	events, st, err := Run(Config{Seed: 1, Nemesis: nemesis.Kinds, TimeLimit: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	simTime := time.Since(start)
	res, err := checker.Check(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sim %v in %v (%d events, %d history events), stats %+v; check %v in %v: %+v", st.VirtualTime, simTime, st.Events, len(events), st, res.Verdict, time.Since(start)-simTime, res.Counts)
	if res.Verdict != checker.Valid {
		t.Fatalf("verdict %v", res.Verdict)
	}
}
