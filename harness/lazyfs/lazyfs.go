// Package lazyfs is a FUSE filesystem that forgets, on command, everything
// not fsynced: it simulates a power failure under a program that runs on
// it, the way Jepsen's lazyfs does, in a few hundred lines of Go.
//
// A mount shows a backing directory. The backing directory only ever
// holds what is durable; everything else lives in this process's memory,
// the volatile layer:
//
//   - Bytes written to a file (and truncations) since the file's last
//     fsync or fdatasync. Reads see them; fsync writes them to the file's
//     backing inode and fsyncs it there.
//   - File names created, renamed or removed since the directory's last
//     fsync. The fsync of a directory makes its current file entries
//     durable: backing hard links are added and removed to match. In
//     journal mode (Options.Journal), any fsync commits every directory's
//     names, as ext4's and XFS's metadata journals do in practice.
//
// Lose (over the control socket: `lazyfs lose`) reports the volatile
// layer's size and fences the mount: from then on every operation fails
// with EIO, so the program on top can acknowledge nothing more, and what
// survives is exactly the backing directory. The harness then kills the
// program and lazyfs together (SIGKILL of the container) and mounts the
// backing directory again on restart: the program finds its disk as a
// power failure at the moment of Lose would have left it.
//
// Simplifications, all on the safe side of what the harness needs:
// directories themselves (mkdir, rmdir, and renaming a directory) are
// durable at once; symlinks, device nodes, hard links and extended
// attributes are not supported; a file's mode and times are not part of
// what a crash can lose. Every file has a backing inode from the moment
// it is created, named by number in the hidden directory .lazyfs-inodes
// of the backing root, so that a directory fsync can link it under its
// name; Mount empties that directory, as a file system check frees the
// inodes no name refers to.
package lazyfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// inodesDir holds a link to every file's backing inode, under the backing
// root; it is hidden from the mount.
const inodesDir = ".lazyfs-inodes"

// Options configure a mount.
type Options struct {
	// Backing is the directory that holds what is durable.
	Backing string
	// Mountpoint is where the file system appears.
	Mountpoint string
	// Logger receives the fences and failures; nil discards.
	Logger *slog.Logger
	// Journal makes any fsync, of a file or a directory, commit every
	// pending file name change in every directory, as the metadata
	// journal of ext4 or XFS does; file data still needs its own fsync.
	// Without it (strict, POSIX) a name is durable only once its
	// directory is fsynced.
	Journal bool
}

// Stats is the size of the volatile layer.
type Stats struct {
	// Bytes written to files since each file's last fsync.
	Bytes int64 `json:"bytes"`
	// Files with writes or truncations not fsynced.
	Files int `json:"files"`
	// Dirents: file names in directories that differ from the
	// directory's last fsync (created, renamed or removed since).
	Dirents int `json:"dirents"`
	// Lost is true once Lose fenced the mount.
	Lost bool `json:"lost"`
}

func (s Stats) String() string {
	return fmt.Sprintf("%d unsynced bytes in %d files, %d directory entries", s.Bytes, s.Files, s.Dirents)
}

// FS is a mounted lazyfs.
type FS struct {
	backing string
	log     *slog.Logger
	server  *fuse.Server

	journal bool

	mu     sync.Mutex // guards everything below and every node's state
	lost   bool
	nextID uint64
	files  []*fileNode // every file ever known, for Stats
	dirs   []*dirNode
}

// Mount mounts a lazyfs of opts.Backing at opts.Mountpoint (the caller
// needs CAP_SYS_ADMIN and /dev/fuse) and serves it until Unmount.
func Mount(opts Options) (*FS, error) {
	if opts.Backing == "" || opts.Mountpoint == "" {
		return nil, errors.New("lazyfs: Backing and Mountpoint are required")
	}
	backing, err := filepath.Abs(opts.Backing)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &FS{backing: backing, log: opts.Logger, nextID: 1, journal: opts.Journal}
	root := &dirNode{lfs: f, durable: map[string]*fileNode{}}
	tree, err := f.load(root)
	if err != nil {
		return nil, err
	}
	zero := time.Duration(0)
	server, err := fs.Mount(opts.Mountpoint, root, &fs.Options{
		// No kernel caching of names and attributes: the mount is the
		// only writer, but a stale answer would hide a bug of ours.
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		OnAdd: func(ctx context.Context) { tree.attach(ctx, &root.Inode) },
		MountOptions: fuse.MountOptions{
			FsName: "lazyfs", Name: "lazyfs",
			// mount(2) directly: images need no fusermount.
			DirectMount: true, DirectMountStrict: true,
		},
	})
	if err != nil {
		f.closeFiles()
		return nil, fmt.Errorf("lazyfs: mount %s on %s: %w", backing, opts.Mountpoint, err)
	}
	f.server = server
	f.log.Info("lazyfs mounted", "backing", backing, "mountpoint", opts.Mountpoint)
	return f, nil
}

// Wait blocks until the file system is unmounted.
func (f *FS) Wait() { f.server.Wait() }

// Unmount unmounts the file system and closes the backing files. Nothing
// volatile is written: an unmount without fsync loses it too.
func (f *FS) Unmount() error {
	err := f.server.Unmount()
	f.closeFiles()
	if err != nil {
		return fmt.Errorf("lazyfs: unmount: %w", err)
	}
	return nil
}

func (f *FS) closeFiles() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fl := range f.files {
		fl.back.Close()
	}
}

// Stats measures the volatile layer.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statsLocked()
}

func (f *FS) statsLocked() Stats {
	s := Stats{Lost: f.lost}
	for _, fl := range f.files {
		if fl.dirty() {
			s.Files++
			s.Bytes += fl.unsynced
		}
	}
	for _, d := range f.dirs {
		s.Dirents += d.unsyncedEntries()
	}
	return s
}

// Lose discards the volatile layer, as a power failure would, and fences
// the mount: every later operation fails with EIO. It returns what it
// discarded. Calling it again returns zero counts.
func (f *FS) Lose() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost {
		return Stats{Lost: true}
	}
	s := f.statsLocked()
	f.lost = true
	s.Lost = true
	for _, fl := range f.files {
		fl.extents, fl.unsynced = nil, 0
	}
	f.log.Warn("lazyfs: volatile layer lost; the mount is fenced", "bytes", s.Bytes, "files", s.Files, "dirents", s.Dirents)
	return s
}

// commitNames makes every directory's file names durable (journal mode).
func (f *FS) commitNames() error {
	for _, d := range f.dirs {
		if err := d.commitNames(); err != nil {
			return err
		}
	}
	return nil
}

// fenced is the check at the top of every operation, under f.mu.
func (f *FS) fenced() bool { return f.lost }

func (f *FS) newID() uint64 {
	f.nextID++
	return f.nextID
}

// inodePath is the backing link of the file with the given id.
func (f *FS) inodePath(id uint64) string {
	return filepath.Join(f.backing, inodesDir, fmt.Sprint(id))
}

// toErrno turns an error from the backing file system into the errno the
// caller sees.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EIO
}

// fsyncDir fsyncs a backing directory.
func fsyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
