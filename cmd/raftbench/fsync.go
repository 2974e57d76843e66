package main

import (
	"github.com/raftcheck/raftcheck/internal/benchstat"

	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// measureFsync appends size bytes and fsyncs, n times, in a file in dir:
// what a single-entry commit costs the disk at least.
func measureFsync(ctx context.Context, dir string, size, n int) (latency, error) {
	path := filepath.Join(dir, "fsync-probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return latency{}, fmt.Errorf("fsync probe: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, size)
	rand.Read(buf)
	lat := make([]time.Duration, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return latency{}, err
		}
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return latency{}, fmt.Errorf("fsync probe: %w", err)
		}
		if err := f.Sync(); err != nil {
			return latency{}, fmt.Errorf("fsync probe: %w", err)
		}
		lat = append(lat, time.Since(start))
	}
	return benchstat.Summarize(lat), nil
}
