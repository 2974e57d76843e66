package mutants

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// skipDirs are not needed to build or test and may be large.
var skipDirs = map[string]bool{".git": true, "results": true, "bin": true, "mutants": true}

// CopyModule copies the module at src into dst (which must not exist),
// regular files only, leaving out skipDirs at the top level.
func CopyModule(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if rel != "." && filepath.Dir(rel) == "." && skipDirs[rel] {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil // symlinks such as results/latest
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("mutants: copy module: %w", err)
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// Tree is a copy of the module in which one mutant at a time is applied.
type Tree struct {
	Dir string
}

// applied is an undo record for one mutant.
type applied struct {
	path string
	orig []byte
}

// apply writes m into the tree and returns how to undo it.
func (t Tree) apply(m Mutant) (applied, error) {
	path := filepath.Join(t.Dir, filepath.FromSlash(m.File))
	orig, err := os.ReadFile(path)
	if err != nil {
		return applied{}, fmt.Errorf("mutant %s: %w", m.Name, err)
	}
	mutated, err := m.Apply(orig)
	if err != nil {
		return applied{}, err
	}
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		return applied{}, fmt.Errorf("mutant %s: %w", m.Name, err)
	}
	return applied{path: path, orig: orig}, nil
}

func (a applied) undo() error { return os.WriteFile(a.path, a.orig, 0o644) }
