package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFlagsDirs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "raftnode")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	file := filepath.Join(a, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dirs, wantErr string
	}{
		{a + "," + b + "," + c, ""},
		{a + "," + b, "2 directories given, want 3"},
		{a + "," + b + "," + filepath.Join(c, "missing"), "create it first"},
		{a + "," + b + "," + file, "is not a directory"},
	} {
		cfg, err := parseFlags([]string{"--raftnode", bin, "--dirs", tc.dirs}, io.Discard)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("--dirs %s: %v", tc.dirs, err)
		case tc.wantErr == "" && strings.Join(cfg.dirs, ",") != tc.dirs:
			t.Errorf("--dirs %s: parsed %q", tc.dirs, cfg.dirs)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("--dirs %s: error %v, want one containing %q", tc.dirs, err, tc.wantErr)
		}
	}
}

func TestDataRoots(t *testing.T) {
	tmp := t.TempDir()
	roots, err := dataRoots(tmp, nil)
	if err != nil || len(roots) != benchNodes || roots[0] != tmp || roots[2] != tmp {
		t.Fatalf("no --dirs: roots %q, %v; want %s for every node", roots, err, tmp)
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	roots, err = dataRoots(tmp, dirs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range roots {
		if filepath.Dir(r) != dirs[i] {
			t.Errorf("node %d's data root %s is not below %s", i+1, r, dirs[i])
		}
	}
}

func TestMeasureFsyncInDirs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	lat, err := measureFsync(context.Background(), dirs, 512, 20)
	if err != nil {
		t.Fatal(err)
	}
	if lat.N != 60 || lat.P50ms <= 0 || lat.MaxMs < lat.P99ms {
		t.Fatalf("3 dirs x 20 rounds summarized as %+v", lat)
	}
	for _, d := range dirs {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("probe left %d files in %s", len(ents), d)
		}
	}
	if _, err := measureFsync(context.Background(), []string{dirs[0], filepath.Join(dirs[1], "missing")}, 512, 1); err == nil {
		t.Error("a missing directory: no error")
	}
}
