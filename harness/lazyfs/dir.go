package lazyfs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirNode is a directory. Its live entries are go-fuse's children of its
// inode (the bridge adds, moves and removes them after each successful
// operation); durable holds the file entries its backing directory has,
// which change only at its fsync. Subdirectories are durable at once.
type dirNode struct {
	fs.Inode
	lfs     *FS
	mode    uint32
	durable map[string]*fileNode
	removed bool
}

// renameNoReplace is renameat2's RENAME_NOREPLACE.
const renameNoReplace = 0x1

var (
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeSetattrer = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
	_ fs.NodeRmdirer   = (*dirNode)(nil)
	_ fs.NodeRenamer   = (*dirNode)(nil)
	_ fs.NodeFsyncer   = (*dirNode)(nil)
	_ fs.NodeStatfser  = (*dirNode)(nil)
)

// path is the backing directory: its live path, since directory changes
// are durable at once.
func (d *dirNode) path() string {
	return filepath.Join(d.lfs.backing, d.Path(nil))
}

// reserved guards the hidden inode directory's name at the root.
func (d *dirNode) reserved(name string) bool { return d.IsRoot() && name == inodesDir }

func (d *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return syscall.EIO
	}
	out.Mode = syscall.S_IFDIR | d.mode&0o7777
	if d.mode&0o7777 == 0 {
		out.Mode |= 0o755
	}
	out.Nlink = 2
	return 0
}

func (d *dirNode) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	d.lfs.mu.Lock()
	if m, ok := in.GetMode(); ok {
		d.mode = m
	}
	d.lfs.mu.Unlock()
	return d.Getattr(ctx, nil, out)
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.lfs.backing, &st); err != nil {
		return toErrno(err)
	}
	out.FromStatfsT(&st)
	return 0
}

// Create makes a file whose name is volatile: its backing inode is only
// linked in the inode directory until the directory is fsynced.
func (d *dirNode) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return nil, nil, 0, syscall.EIO
	}
	if d.reserved(name) {
		return nil, nil, 0, syscall.EPERM
	}
	if d.GetChild(name) != nil {
		return nil, nil, 0, syscall.EEXIST
	}
	fl := &fileNode{lfs: d.lfs, id: d.lfs.newID(), mode: mode, mtime: time.Now()}
	back, err := os.OpenFile(d.lfs.inodePath(fl.id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	fl.back = back
	d.lfs.files = append(d.lfs.files, fl)
	fl.fill(&out.Attr)
	return d.NewPersistentInode(ctx, fl, fs.StableAttr{Mode: syscall.S_IFREG, Ino: fl.id}), nil, 0, 0
}

// Mkdir is durable at once. A durable file entry of the same name (one
// unlinked since the last fsync) goes with it.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return nil, syscall.EIO
	}
	if d.reserved(name) {
		return nil, syscall.EPERM
	}
	if d.GetChild(name) != nil {
		return nil, syscall.EEXIST
	}
	if err := d.dropDurable(name); err != nil {
		return nil, toErrno(err)
	}
	if err := os.Mkdir(filepath.Join(d.path(), name), os.FileMode(mode&0o777)); err != nil {
		return nil, toErrno(err)
	}
	if err := fsyncDir(d.path()); err != nil {
		return nil, toErrno(err)
	}
	sub := &dirNode{lfs: d.lfs, mode: mode, durable: map[string]*fileNode{}}
	d.lfs.dirs = append(d.lfs.dirs, sub)
	out.Mode = syscall.S_IFDIR | mode&0o7777
	return d.NewPersistentInode(ctx, sub, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: d.lfs.newID()}), 0
}

// dropDurable removes a durable file entry from the backing directory.
func (d *dirNode) dropDurable(name string) error {
	if d.durable[name] == nil {
		return nil
	}
	if err := os.Remove(filepath.Join(d.path(), name)); err != nil {
		return err
	}
	delete(d.durable, name)
	return nil
}

// Unlink of a file is volatile: the bridge drops the live entry; the
// backing entry goes at the directory's next fsync.
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return syscall.EIO
	}
	ch := d.GetChild(name)
	if ch == nil {
		return syscall.ENOENT
	}
	if _, ok := ch.Operations().(*fileNode); !ok {
		return syscall.EISDIR
	}
	return 0
}

// Rmdir is durable at once: the directory must be empty in the live view;
// durable entries unlinked since its last fsync are removed with it.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return syscall.EIO
	}
	ch := d.GetChild(name)
	if ch == nil {
		return syscall.ENOENT
	}
	sub, ok := ch.Operations().(*dirNode)
	if !ok {
		return syscall.ENOTDIR
	}
	if len(ch.Children()) > 0 {
		return syscall.ENOTEMPTY
	}
	for n := range sub.durable {
		if err := sub.dropDurable(n); err != nil {
			return toErrno(err)
		}
	}
	if err := os.Remove(sub.path()); err != nil {
		return toErrno(err)
	}
	sub.removed = true
	return toErrno(fsyncDir(d.path()))
}

// Rename of a file is volatile (both directories' fsyncs decide what
// survives); of a directory, durable at once.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return syscall.EIO
	}
	to, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	if flags&^uint32(renameNoReplace) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT: not supported
	}
	if to.reserved(newName) {
		return syscall.EPERM
	}
	ch := d.GetChild(name)
	if ch == nil {
		return syscall.ENOENT
	}
	old := to.GetChild(newName)
	if old == ch {
		return 0
	}
	if old != nil && flags&renameNoReplace != 0 {
		return syscall.EEXIST
	}
	sub, isDir := ch.Operations().(*dirNode)
	if old != nil {
		_, oldIsDir := old.Operations().(*dirNode)
		switch {
		case isDir && !oldIsDir:
			return syscall.ENOTDIR
		case !isDir && oldIsDir:
			return syscall.EISDIR
		case oldIsDir && len(old.Children()) > 0:
			return syscall.ENOTEMPTY
		}
	}
	if !isDir {
		return 0
	}
	if err := to.dropDurable(newName); err != nil {
		return toErrno(err)
	}
	if old != nil { // an empty directory, replaced
		oldSub := old.Operations().(*dirNode)
		for n := range oldSub.durable {
			if err := oldSub.dropDurable(n); err != nil {
				return toErrno(err)
			}
		}
		oldSub.removed = true
	}
	if err := os.Rename(sub.path(), filepath.Join(to.path(), newName)); err != nil {
		return toErrno(err)
	}
	if err := fsyncDir(d.path()); err != nil {
		return toErrno(err)
	}
	return toErrno(fsyncDir(to.path()))
}

// Fsync of a directory makes its file entries durable as they are now
// (in journal mode, every directory's).
func (d *dirNode) Fsync(ctx context.Context, _ fs.FileHandle, flags uint32) syscall.Errno {
	d.lfs.mu.Lock()
	defer d.lfs.mu.Unlock()
	if d.lfs.fenced() {
		return syscall.EIO
	}
	if d.lfs.journal {
		return toErrno(d.lfs.commitNames())
	}
	return toErrno(d.commitNames())
}

// commitNames makes the directory's file entries durable as they are
// now: the backing directory gets a link to each live file's backing
// inode and loses the names no longer live, then is fsynced.
func (d *dirNode) commitNames() error {
	if d.removed {
		return nil
	}
	live := d.liveFiles()
	dir := d.path()
	for _, name := range sortedKeys(d.durable) {
		if live[name] != d.durable[name] {
			if err := d.dropDurable(name); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(live) {
		fl := live[name]
		if d.durable[name] == fl {
			continue
		}
		if err := os.Link(d.lfs.inodePath(fl.id), filepath.Join(dir, name)); err != nil {
			return err
		}
		d.durable[name] = fl
	}
	return fsyncDir(dir)
}

// liveFiles are the directory's file entries now.
func (d *dirNode) liveFiles() map[string]*fileNode {
	live := map[string]*fileNode{}
	for name, ch := range d.Children() {
		if fl, ok := ch.Operations().(*fileNode); ok {
			live[name] = fl
		}
	}
	return live
}

// unsyncedEntries counts names whose file differs from the last fsync.
func (d *dirNode) unsyncedEntries() int {
	if d.removed {
		return 0
	}
	live := d.liveFiles()
	n := 0
	for name, fl := range live {
		if d.durable[name] != fl {
			n++
		}
	}
	for name := range d.durable {
		if _, ok := live[name]; !ok {
			n++
		}
	}
	return n
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
