package runner

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// A failing seed stops the sweep without leaving a worker blocked: the
// goroutines of the sweep are all gone when it returns.
func TestSweepStopsWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	visited := 0
	Sweep(context.Background(), 1, 1000, 4, func(seed uint64) (int, error) {
		if seed == 3 {
			return 0, errors.New("boom")
		}
		return int(seed), nil
	}, func(r SeedResult[int]) bool {
		visited++
		return r.Err == nil
	})
	if visited < 3 || visited > 3+4+1 {
		t.Fatalf("visited %d seeds: want the failing one and at most the workers' seeds in flight", visited)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
	}
}

// Every seed is visited exactly once when nothing fails.
func TestSweepVisitsEverySeed(t *testing.T) {
	seen := map[uint64]int{}
	Sweep(context.Background(), 10, 50, 3, func(seed uint64) (uint64, error) { return seed, nil },
		func(r SeedResult[uint64]) bool { seen[r.Value]++; return true })
	for s := uint64(10); s < 60; s++ {
		if seen[s] != 1 {
			t.Fatalf("seed %d visited %d times", s, seen[s])
		}
	}
}
