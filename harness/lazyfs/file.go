package lazyfs

import (
	"context"
	"os"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileNode is a regular file: its backing inode holds the bytes of its
// last fsync; the volatile layer is the writes since, in order.
type fileNode struct {
	fs.Inode
	lfs  *FS
	id   uint64
	back *os.File // the backing inode, read-write

	mode  uint32
	mtime time.Time
	// size is the size the file has now; floor is how much of the
	// backing inode still shows through (a truncation since the last
	// fsync hides what lies beyond it); extents are the writes since the
	// last fsync, applied in order over the backing bytes.
	size, floor int64
	extents     []extent
	truncated   bool  // a truncation since the last fsync
	unsynced    int64 // bytes written since the last fsync
}

type extent struct {
	off  int64
	data []byte
}

var (
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeReader    = (*fileNode)(nil)
	_ fs.NodeWriter    = (*fileNode)(nil)
	_ fs.NodeFsyncer   = (*fileNode)(nil)
	_ fs.NodeFlusher   = (*fileNode)(nil)
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
	_ fs.NodeAllocater = (*fileNode)(nil)
)

func (fl *fileNode) dirty() bool { return len(fl.extents) > 0 || fl.truncated || fl.size != fl.floor }

// Open needs no handle: all state is the node's. O_TRUNC truncates here
// when the kernel passes it on (atomic_o_trunc).
func (fl *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return nil, 0, syscall.EIO
	}
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		fl.truncate(0)
	}
	return nil, 0, 0
}

func (fl *fileNode) Read(ctx context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return nil, syscall.EIO
	}
	if off >= fl.size {
		return fuse.ReadResultData(nil), 0
	}
	buf := dest[:min(int64(len(dest)), fl.size-off)]
	clear(buf)
	if off < fl.floor {
		n, err := fl.back.ReadAt(buf[:min(int64(len(buf)), fl.floor-off)], off)
		if err != nil && n < min(len(buf), int(fl.floor-off)) {
			return nil, toErrno(err)
		}
	}
	end := off + int64(len(buf))
	for _, e := range fl.extents {
		lo, hi := max(off, e.off), min(end, e.off+int64(len(e.data)))
		if lo < hi {
			copy(buf[lo-off:hi-off], e.data[lo-e.off:hi-e.off])
		}
	}
	return fuse.ReadResultData(buf), 0
}

func (fl *fileNode) Write(ctx context.Context, _ fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return 0, syscall.EIO
	}
	if n := len(fl.extents); n > 0 && fl.extents[n-1].off+int64(len(fl.extents[n-1].data)) == off {
		// An append to the last write: one extent, not thousands.
		fl.extents[n-1].data = append(fl.extents[n-1].data, data...)
	} else {
		fl.extents = append(fl.extents, extent{off: off, data: append([]byte(nil), data...)})
	}
	fl.size = max(fl.size, off+int64(len(data)))
	fl.unsynced += int64(len(data))
	fl.mtime = time.Now()
	return uint32(len(data)), 0
}

// truncate changes the size in the volatile layer only.
func (fl *fileNode) truncate(size int64) {
	if size < fl.size {
		kept := fl.extents[:0]
		for _, e := range fl.extents {
			if e.off >= size {
				continue
			}
			if e.off+int64(len(e.data)) > size {
				e.data = e.data[:size-e.off]
			}
			kept = append(kept, e)
		}
		fl.extents = kept
		fl.floor = min(fl.floor, size)
	}
	fl.size = size
	fl.truncated = true
	fl.mtime = time.Now()
}

// Fsync makes the file's volatile layer durable in its backing inode:
// cut it to what still shows through, write every extent in order, set
// the size, fsync. fdatasync does the same.
func (fl *fileNode) Fsync(ctx context.Context, _ fs.FileHandle, flags uint32) syscall.Errno {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return syscall.EIO
	}
	if err := fl.back.Truncate(fl.floor); err != nil {
		return toErrno(err)
	}
	for _, e := range fl.extents {
		if _, err := fl.back.WriteAt(e.data, e.off); err != nil {
			return toErrno(err)
		}
	}
	if err := fl.back.Truncate(fl.size); err != nil {
		return toErrno(err)
	}
	if err := fl.back.Sync(); err != nil {
		return toErrno(err)
	}
	fl.floor, fl.extents, fl.truncated, fl.unsynced = fl.size, nil, false, 0
	if fl.lfs.journal {
		return toErrno(fl.lfs.commitNames())
	}
	return 0
}

// Flush (close) makes nothing durable, as on a real file system.
func (fl *fileNode) Flush(ctx context.Context, _ fs.FileHandle) syscall.Errno { return 0 }

func (fl *fileNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return syscall.EIO
	}
	fl.fill(&out.Attr)
	return 0
}

func (fl *fileNode) fill(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | fl.mode&0o7777
	a.Size = uint64(fl.size)
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = 1
	a.Ino = fl.id
	a.SetTimes(&fl.mtime, &fl.mtime, &fl.mtime)
}

func (fl *fileNode) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return syscall.EIO
	}
	if sz, ok := in.GetSize(); ok {
		fl.truncate(int64(sz))
	}
	if m, ok := in.GetMode(); ok {
		fl.mode = m
	}
	if t, ok := in.GetMTime(); ok {
		fl.mtime = t
	}
	fl.fill(&out.Attr)
	return 0
}

// Allocate extends the file with zeros (mode 0), or does nothing (keep
// size: the space is not ours to reserve).
func (fl *fileNode) Allocate(ctx context.Context, _ fs.FileHandle, off, size uint64, mode uint32) syscall.Errno {
	fl.lfs.mu.Lock()
	defer fl.lfs.mu.Unlock()
	if fl.lfs.fenced() {
		return syscall.EIO
	}
	const keepSize = 0x01 // FALLOC_FL_KEEP_SIZE
	switch {
	case mode == keepSize:
	case mode == 0:
		if end := int64(off + size); end > fl.size {
			fl.size = end
			fl.truncated = true
		}
	default:
		return syscall.EOPNOTSUPP
	}
	return 0
}
