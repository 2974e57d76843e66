package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// measureFsync appends size bytes and fsyncs, n times, in a file in each
// of dirs at once, and summarizes all the latencies together. With one
// dir it is what a single-entry commit costs the disk at least; with one
// per node, what each node pays while the others fsync too: three nodes
// whose directories share a disk commit no faster than that, however
// fast one fsync alone.
func measureFsync(ctx context.Context, dirs []string, size, n int) (latency, error) {
	lats := make([][]time.Duration, len(dirs))
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i], errs[i] = fsyncLoop(ctx, dir, size, n)
		}()
	}
	wg.Wait()
	var all []time.Duration
	for i := range dirs {
		if errs[i] != nil {
			return latency{}, errs[i]
		}
		all = append(all, lats[i]...)
	}
	return benchstat.Summarize(all), nil
}

// fsyncLoop appends size random bytes to a new file in dir and fsyncs it,
// n times, and returns each round's latency. The file is removed after.
func fsyncLoop(ctx context.Context, dir string, size, n int) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return nil, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	rand.Read(buf)
	lat := make([]time.Duration, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, fmt.Errorf("fsync probe in %s: %w", filepath.Dir(f.Name()), err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("fsync probe in %s: %w", filepath.Dir(f.Name()), err)
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}
