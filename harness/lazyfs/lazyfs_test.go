package lazyfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fuseUsable skips the test unless this process can mount FUSE (root and
// /dev/fuse): inside a container, run it with --device /dev/fuse
// --cap-add SYS_ADMIN.
func fuseUsable(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lazyfs mounts need root (CAP_SYS_ADMIN); not root here")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("lazyfs mounts need /dev/fuse: %v", err)
	}
	f.Close()
}

// disk is a lazyfs mount over a backing directory that survives
// remounts, as a node's volume survives its restarts.
type disk struct {
	t                   *testing.T
	backing, mountpoint string
	journal             bool
	fs                  *FS
}

func newDisk(t *testing.T) *disk { return newDiskJournal(t, false) }

func newDiskJournal(t *testing.T, journal bool) *disk {
	fuseUsable(t)
	d := &disk{t: t, backing: t.TempDir(), mountpoint: t.TempDir(), journal: journal}
	f, err := Mount(Options{Backing: d.backing, Mountpoint: d.mountpoint, Journal: journal})
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		// Root without CAP_SYS_ADMIN, as in a default container.
		t.Skipf("lazyfs cannot mount here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	d.fs = f
	t.Cleanup(func() {
		if d.fs != nil {
			d.fs.Unmount()
		}
	})
	return d
}

func (d *disk) mount() {
	d.t.Helper()
	f, err := Mount(Options{Backing: d.backing, Mountpoint: d.mountpoint, Journal: d.journal})
	if err != nil {
		d.t.Fatal(err)
	}
	d.fs = f
}

// crash loses the volatile layer, unmounts and mounts again: a power
// failure and a reboot.
func (d *disk) crash() Stats {
	d.t.Helper()
	st := d.fs.Lose()
	if err := d.fs.Unmount(); err != nil {
		d.t.Fatal(err)
	}
	d.fs = nil
	d.mount()
	return st
}

func (d *disk) path(name string) string { return filepath.Join(d.mountpoint, name) }

func (d *disk) write(name, data string, sync bool) {
	d.t.Helper()
	f, err := os.OpenFile(d.path(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		d.t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			d.t.Fatal(err)
		}
	}
}

func (d *disk) syncDir(name string) {
	d.t.Helper()
	if err := fsyncDir(d.path(name)); err != nil {
		d.t.Fatal(err)
	}
}

// read returns the file's contents, or "<absent>".
func (d *disk) read(name string) string {
	d.t.Helper()
	b, err := os.ReadFile(d.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		d.t.Fatal(err)
	}
	return string(b)
}

func TestUnsyncedWritesAreLost(t *testing.T) {
	d := newDisk(t)
	d.write("f", "durable", true)
	d.syncDir(".")
	d.write("f", "+volatile", false)
	if got := d.read("f"); got != "durable+volatile" {
		t.Fatalf("before the crash, read %q", got)
	}
	st := d.crash()
	if st.Bytes != int64(len("+volatile")) || st.Files != 1 || st.Dirents != 0 {
		t.Errorf("Lose reported %+v; want 9 bytes in 1 file, no entries", st)
	}
	if got := d.read("f"); got != "durable" {
		t.Errorf("after the crash, read %q, want %q", got, "durable")
	}
}

func TestFsyncedWritesAreKept(t *testing.T) {
	d := newDisk(t)
	if err := os.Mkdir(d.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	d.write("sub/f", "one", true)
	d.write("sub/f", "two", true)
	d.syncDir("sub")
	if st := d.crash(); st.Bytes != 0 || st.Files != 0 || st.Dirents != 0 {
		t.Errorf("Lose reported %+v; want nothing", st)
	}
	if got := d.read("sub/f"); got != "onetwo" {
		t.Errorf("after the crash, read %q, want %q", got, "onetwo")
	}
}

// A file fsynced whose directory was not loses its name.
func TestNewNameNeedsDirectoryFsync(t *testing.T) {
	d := newDisk(t)
	d.write("f", "data", true)
	st := d.crash()
	if st.Dirents != 1 {
		t.Errorf("Lose reported %+v; want 1 directory entry", st)
	}
	if got := d.read("f"); got != "<absent>" {
		t.Errorf("after the crash, read %q; the name was never fsynced", got)
	}
}

// In journal mode any fsync commits every pending name, in every
// directory; data still needs its own file's fsync.
func TestJournalCommitsNames(t *testing.T) {
	d := newDiskJournal(t, true)
	if err := os.Mkdir(d.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	d.write("sub/a", "unsynced", false)
	d.write("b", "synced", true) // commits sub/a's name too
	d.write("c", "late", false)
	d.crash()
	got := []string{d.read("sub/a"), d.read("b"), d.read("c")}
	want := []string{"", "synced", "<absent>"}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("after the crash: sub/a, b, c read %q; want %q", got, want)
			break
		}
	}
}

func TestRenameDurability(t *testing.T) {
	for _, syncAfter := range []bool{false, true} {
		d := newDisk(t)
		d.write("tmp", "snapshot", true)
		d.write("old", "x", true)
		d.syncDir(".")
		if err := os.Rename(d.path("tmp"), d.path("final")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(d.path("old")); err != nil {
			t.Fatal(err)
		}
		if syncAfter {
			d.syncDir(".")
		}
		d.crash()
		got := []string{d.read("tmp"), d.read("final"), d.read("old")}
		want := []string{"snapshot", "<absent>", "x"}
		if syncAfter {
			want = []string{"<absent>", "snapshot", "<absent>"}
		}
		for i, name := range []string{"tmp", "final", "old"} {
			if got[i] != want[i] {
				t.Errorf("directory fsynced after rename and unlink: %v: %s reads %q, want %q", syncAfter, name, got[i], want[i])
			}
		}
	}
}

// Truncation is volatile too, and an fsync after it leaves exactly what
// reads showed.
func TestTruncateThenWrite(t *testing.T) {
	d := newDisk(t)
	d.write("f", "abcdef", true)
	d.syncDir(".")
	// Truncate to 2, write at 4, fsync or not, and close before the
	// crash (an open file keeps the mount busy).
	change := func(sync bool) {
		f, err := os.OpenFile(d.path("f"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(2); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("x"), 4); err != nil {
			t.Fatal(err)
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := "ab\x00\x00x"
	change(false)
	if got := d.read("f"); got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	d.crash()
	if got := d.read("f"); got != "abcdef" {
		t.Errorf("unsynced truncation survived: read %q", got)
	}
	change(true)
	d.crash()
	if got := d.read("f"); got != want {
		t.Errorf("after fsync and crash, read %q, want %q", got, want)
	}
}

// After Lose, nothing more can be written: the crash point is Lose.
func TestLoseFences(t *testing.T) {
	d := newDisk(t)
	f, err := os.OpenFile(d.path("f"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d.fs.Lose()
	if _, err := f.Write([]byte("late")); !errors.Is(err, syscall.EIO) {
		t.Errorf("write after Lose: %v, want EIO", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync after Lose: %v, want EIO", err)
	}
}

func TestControlSocket(t *testing.T) {
	d := newDisk(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	done := make(chan error, 1)
	go func() { done <- d.fs.ServeControl(ctx, sock) }()
	d.write("f", "12345", false)
	var st Stats
	var err error
	for range 500 { // the socket appears once the goroutine listens
		if st, err = Control(ctx, sock, "stats"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || st.Bytes != 5 || st.Lost {
		t.Fatalf("stats: %+v, %v; want 5 bytes, not lost", st, err)
	}
	if st, err = Control(ctx, sock, "lose"); err != nil || st.Bytes != 5 || !st.Lost {
		t.Fatalf("lose: %+v, %v; want 5 bytes, lost", st, err)
	}
	if _, err = Control(ctx, sock, "explode"); err == nil {
		t.Error("an unknown command was accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// The volatile layer of one file, without a mount: writes merge, a
// truncation hides the backing bytes beyond it, fsync writes the result.
func TestFileLayer(t *testing.T) {
	back, err := os.CreateTemp(t.TempDir(), "back")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	back.WriteString("0123456789")
	fl := &fileNode{lfs: &FS{}, back: back, size: 10, floor: 10}
	ctx := context.Background()
	read := func() string {
		buf := make([]byte, 64)
		res, errno := fl.Read(ctx, nil, buf, 0)
		if errno != 0 {
			t.Fatal(errno)
		}
		b, _ := res.Bytes(buf)
		return string(b)
	}
	fl.Write(ctx, nil, []byte("ab"), 2)
	fl.Write(ctx, nil, []byte("cd"), 4) // merges with the previous write
	fl.truncate(5)
	fl.Write(ctx, nil, []byte("Z"), 7)
	want := "01abc\x00\x00Z"
	if got := read(); got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	if len(fl.extents) != 2 || fl.unsynced != 5 {
		t.Errorf("%d extents, %d unsynced bytes; want 2 and 5", len(fl.extents), fl.unsynced)
	}
	if got, _ := os.ReadFile(back.Name()); string(got) != "0123456789" {
		t.Errorf("the backing file changed before fsync: %q", got)
	}
	if errno := fl.Fsync(ctx, nil, 0); errno != 0 {
		t.Fatal(errno)
	}
	if got, _ := os.ReadFile(back.Name()); !bytes.Equal(got, []byte(want)) {
		t.Errorf("backing after fsync: %q, want %q", got, want)
	}
	if fl.dirty() || read() != want {
		t.Errorf("after fsync: dirty %v, read %q", fl.dirty(), read())
	}
}

// Directories are durable at once, the names in them only with their
// directory's fsync: the pattern of etcd's first WAL segment (a file in
// wal.tmp, fsynced; wal.tmp renamed to wal; the parent fsynced), which
// keeps the segment only if wal.tmp (or wal) was fsynced too.
func TestRenamedDirectoryKeepsOnlySyncedNames(t *testing.T) {
	for _, syncTmp := range []bool{false, true} {
		d := newDisk(t)
		if err := os.Mkdir(d.path("wal.tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
		d.write("wal.tmp/0.wal", "segment", true)
		if syncTmp {
			d.syncDir("wal.tmp")
		}
		if err := os.Rename(d.path("wal.tmp"), d.path("wal")); err != nil {
			t.Fatal(err)
		}
		d.syncDir(".")
		d.crash()
		want := "<absent>"
		if syncTmp {
			want = "segment"
		}
		if got := d.read("wal/0.wal"); got != want {
			t.Errorf("wal.tmp fsynced %v: wal/0.wal reads %q, want %q", syncTmp, got, want)
		}
		if got := d.read("wal.tmp/0.wal"); got != "<absent>" {
			t.Errorf("the renamed directory's old name still holds a file: %q", got)
		}
	}
}
