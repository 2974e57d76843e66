package storage

import (
	"bytes"
	"os"
	"testing"

	"github.com/raftcheck/raftcheck/node/raft"
)

// benchDir is where benchmarks write: RAFTCHECK_BENCH_DIR if set (point it
// at the disk you care about; a tmpfs makes fsync free), else a temp dir.
func benchDir(b *testing.B) string {
	if d := os.Getenv("RAFTCHECK_BENCH_DIR"); d != "" {
		d, err := os.MkdirTemp(d, "storage-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

// benchSave saves batches of per entries of 100 bytes, one fsync per
// Save, and reports entries per second and fsyncs per operation.
func benchSave(b *testing.B, per int) {
	s, _ := openT(b, benchDir(b), Options{})
	defer s.Close()
	data := bytes.Repeat([]byte{'x'}, 100)
	batch := make([]raft.Entry, per)
	next := uint64(1)
	syncs := s.SyncCount()
	ops := 0
	b.SetBytes(int64(per * len(data)))
	for b.Loop() {
		for i := range batch {
			batch[i] = raft.Entry{Term: 1, Index: next, Data: data}
			next++
		}
		if err := s.Save(raft.HardState{}, batch); err != nil {
			b.Fatal(err)
		}
		ops++
	}
	b.ReportMetric(float64(ops*per)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(s.SyncCount()-syncs)/float64(ops), "fsyncs/op")
}

// BenchmarkSave: one 100-byte entry per Save, so one fsync per entry.
func BenchmarkSave(b *testing.B) { benchSave(b, 1) }

// BenchmarkGroupCommit: 64 entries per Save share one fsync.
func BenchmarkGroupCommit(b *testing.B) { benchSave(b, 64) }
