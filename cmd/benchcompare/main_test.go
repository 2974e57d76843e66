package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || cfg.rounds != 3 || cfg.failovers != 10 || len(cfg.clients) != 2 || cfg.readFrac != 0.9 {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"--clients", "1,x"}, {"--read-frac", "2"}, {"--rounds", "-1"}, {"--etcd-conns", "0"}, {"--raftnode-conns", "-1"},
		{"--election-timeout", "1ms"}, {"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}

func TestAlternate(t *testing.T) {
	a, b := &system{name: "a"}, &system{name: "b"}
	if got := alternate([]*system{a, b}, 0); got[0] != a {
		t.Errorf("round 0 starts with %s", got[0].name)
	}
	if got := alternate([]*system{a, b}, 1); got[0] != b || got[1] != a {
		t.Errorf("round 1 = %s, %s; want b, a", got[0].name, got[1].name)
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 1000; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := benchstat.Summarize(d)
	if l.P50ms != 500 || l.P99ms != 990 || l.P999ms != 999 || l.MaxMs != 1000 || l.N != 1000 {
		t.Errorf("benchstat.Summarize(1..1000ms) = %+v", l)
	}
}

// Rounds of one scenario add up into one row; the table and the JSON
// carry the figures.
func TestResults(t *testing.T) {
	cfg, _ := parseFlags(nil, io.Discard)
	r := newResults(cfg)
	sc := scenario{Workload: "write-only", Clients: 1}
	for range 2 {
		r.addLoad("raftnode", sc, sample{ok: 100, elapsed: time.Second, writes: make([]time.Duration, 100)})
	}
	r.addFailover("etcd", failoverResult{Killed: "n1", Ms: 600, KillMs: 250})
	r.finish()
	if len(r.Load) != 1 || r.Load[0].OpsPerSec != 100 || len(r.Load[0].RoundOps) != 2 {
		t.Fatalf("load rows: %+v", r.Load)
	}
	var out bytes.Buffer
	if err := r.writeTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "write-only") || !strings.Contains(out.String(), "600ms") {
		t.Errorf("table:\n%s", out.String())
	}
	path, err := r.save(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || filepath.Base(path) != "results.json" {
		t.Fatal(path, err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || back["failovers"] == nil {
		t.Errorf("JSON: %v\n%s", err, b)
	}
}
