package lazyfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// loaded is the backing tree as Mount found it: everything in it is
// durable, so it starts with an empty volatile layer.
type loaded struct {
	dir      *dirNode
	mode     uint32
	children map[string]*loaded // directories
	files    map[string]*fileNode
}

// load empties the inode directory, then reads the backing tree, opening
// every file and linking it into the inode directory.
func (f *FS) load(root *dirNode) (*loaded, error) {
	inodes := filepath.Join(f.backing, inodesDir)
	if err := os.RemoveAll(inodes); err != nil {
		return nil, fmt.Errorf("lazyfs: clear %s: %w", inodes, err)
	}
	if err := os.Mkdir(inodes, 0o700); err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	if err := fsyncDir(f.backing); err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	f.dirs = append(f.dirs, root)
	byIno := map[uint64]*fileNode{}
	tree, err := f.loadDir(root, f.backing, true, byIno)
	if err != nil {
		f.closeFiles()
		return nil, err
	}
	return tree, nil
}

func (f *FS) loadDir(d *dirNode, path string, isRoot bool, byIno map[uint64]*fileNode) (*loaded, error) {
	l := &loaded{dir: d, children: map[string]*loaded{}, files: map[string]*fileNode{}}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	for _, e := range ents {
		name, p := e.Name(), filepath.Join(path, e.Name())
		if isRoot && name == inodesDir {
			continue
		}
		info, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("lazyfs: %w", err)
		}
		st := info.Sys().(*syscall.Stat_t)
		switch {
		case info.IsDir():
			sub := &dirNode{lfs: f, durable: map[string]*fileNode{}}
			f.dirs = append(f.dirs, sub)
			child, err := f.loadDir(sub, p, false, byIno)
			if err != nil {
				return nil, err
			}
			child.mode = st.Mode
			l.children[name] = child
		case info.Mode().IsRegular():
			fl := byIno[st.Ino]
			if fl == nil {
				if fl, err = f.openLoaded(p, st); err != nil {
					return nil, err
				}
				byIno[st.Ino] = fl
			}
			l.files[name] = fl
			d.durable[name] = fl
		default:
			return nil, fmt.Errorf("lazyfs: %s is a %v: only regular files and directories are supported", p, info.Mode().Type())
		}
	}
	return l, nil
}

func (f *FS) openLoaded(path string, st *syscall.Stat_t) (*fileNode, error) {
	fl := &fileNode{lfs: f, id: f.newID(), mode: st.Mode, size: st.Size, floor: st.Size}
	if err := os.Link(path, f.inodePath(fl.id)); err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	back, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	fl.back = back
	f.files = append(f.files, fl)
	return fl, nil
}

// attach builds the inode tree from what load found; go-fuse calls it
// when the root is mounted.
func (l *loaded) attach(ctx context.Context, parent *fs.Inode) {
	for name, fl := range l.files {
		in := fl.EmbeddedInode()
		if in.StableAttr().Ino == 0 { // first of its names
			in = parent.NewPersistentInode(ctx, fl, fs.StableAttr{Mode: syscall.S_IFREG, Ino: fl.id})
		}
		parent.AddChild(name, in, false)
	}
	for name, sub := range l.children {
		sub.dir.mode = sub.mode
		in := parent.NewPersistentInode(ctx, sub.dir, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: l.dir.lfs.newIDLocked()})
		parent.AddChild(name, in, false)
		sub.attach(ctx, in)
	}
}

// newIDLocked takes the lock for a caller outside any operation.
func (f *FS) newIDLocked() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newID()
}
