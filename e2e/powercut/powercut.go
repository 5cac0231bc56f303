// Package powercut is a FUSE file system for tests that loses, on demand,
// what a power cut loses: every write to a file that no fsync or fdatasync
// of that file has made durable since.
//
// It passes everything through to a backing directory. For each file
// written since its last sync it keeps the size that sync left and the
// bytes the writes (and truncations) replaced; Cut unmounts, puts those
// bytes back, cuts the file to that size, and mounts again, so a process
// started afterwards reads what a disk would hold after the power came
// back. A file that was never synced comes back empty.
//
// Names are held to POSIX's rule too: creating, renaming or unlinking a
// file is durable only once its directory is fsync'd (fsync(2): "an
// explicit fsync() on a file descriptor for the directory is also
// needed"); a cut undoes the rest, newest first, bringing unlinked and
// renamed-over files back from hard links kept beside the backing
// directory. That is stricter than ext4, whose journal commits every
// earlier name change with any fsync. Directories themselves (mkdir,
// rmdir) are durable at once. Writes through a shared memory mapping are
// not seen (the nodes write with pwrite; bbolt maps its file read-only).
// Kernel passthrough is refused, so every write reaches this process.
//
// Use the mount from other processes only. A page fault on it (a mapped
// file, as bbolt's) in the process that serves it can deadlock: the
// faulting thread cannot stop for the Go collector, so the server never
// runs again to answer it.
//
// Mounting needs root (or CAP_SYS_ADMIN) and /dev/fuse.
package powercut

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FS is one mount.
type FS struct {
	backing, mountpoint string

	mu      sync.Mutex
	files   map[uint64]*unsynced // by inode: written since their last sync
	names   []nameChange         // not yet durable, oldest first
	seq     int                  // of the last name change
	stash   string               // hard links to files unlinked or renamed over
	stashed int
	srv     *fuse.Server
	stats   Stats
}

// nameChange is one name created or removed in a directory (a rename is
// a removal and a creation) that no fsync of the directory has made
// durable yet.
type nameChange struct {
	dir, name string // backing directory and name
	created   bool
	stash     string // removed: a hard link to what the name held
	seq       int
}

// Stats counts what the cuts lost.
type Stats struct {
	Cuts  int   // Cut calls
	Files int   // files that lost writes (counted at each cut)
	Bytes int64 // bytes of unsynced writes undone (put back or cut off)
	Names int   // name changes undone (created, renamed, unlinked)
	// Writes and Syncs count the writes and file syncs the mount served:
	// a test can tell that what it checks went through the model.
	Writes, Syncs int64
	// ByFile: those bytes by file name (relative to the backing
	// directory; "(unlinked)" for a file deleted since).
	ByFile map[string]int64
}

// unsynced is one file's state since its last sync.
type unsynced struct {
	fd     int   // the backing file, to put it back
	synced int64 // its size at the last sync
	undo   []undo
}

// undo is what one write or truncation replaced below the synced size.
type undo struct {
	off  int64
	data []byte
}

// Available reports why a mount cannot work here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("powercut: mounting a FUSE file system needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	return nil
}

// Mount serves backing at mountpoint (both directories must exist).
func Mount(backing, mountpoint string) (*FS, error) {
	p := &FS{backing: backing, mountpoint: mountpoint, files: map[uint64]*unsynced{},
		stash: filepath.Join(filepath.Dir(backing), "."+filepath.Base(backing)+".powercut-stash")}
	// Beside the backing directory (hard links need the same file
	// system), out of the mount's view.
	if err := os.MkdirAll(p.stash, 0o700); err != nil {
		return nil, fmt.Errorf("powercut: %w", err)
	}
	if err := p.mount(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *FS) mount() error {
	var st syscall.Stat_t
	if err := syscall.Stat(p.backing, &st); err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	root := &fs.LoopbackRoot{Path: p.backing, Dev: uint64(st.Dev)}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, p: p}
	}
	root.RootNode = root.NewNode(root, nil, "", &st)
	srv, err := fs.Mount(p.mountpoint, root.RootNode, &fs.Options{
		MountOptions: fuse.MountOptions{DirectMount: true, FsName: "powercut", Name: "powercut", DisableXAttrs: true},
		// No attribute or entry caching: after a cut the kernel must ask.
		EntryTimeout: new(time.Duration), AttrTimeout: new(time.Duration), NegativeTimeout: new(time.Duration),
	})
	if err != nil {
		return fmt.Errorf("powercut: mount %s: %w", p.mountpoint, err)
	}
	p.srv = srv
	closeFuseOnExec()
	return nil
}

// closeFuseOnExec marks this process's /dev/fuse descriptors close-on-exec.
// go-fuse's direct mount leaves its descriptor inheritable, so every node
// started afterwards held a copy of every mount's connection: when the
// test process died, its mounts stayed up with no server, and anything
// touching them hung instead of failing.
func closeFuseOnExec() {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "/dev/fuse" {
			var fd int
			if _, err := fmt.Sscan(e.Name(), &fd); err == nil {
				syscall.CloseOnExec(fd)
			}
		}
	}
}

// Cut loses every unsynced write, as a power cut would, and mounts again.
// Every process using the mount must have exited (a file still open keeps
// the mount busy: Cut waits up to 10 s for it to close, then fails).
func (p *FS) Cut() error {
	if err := p.unmount(); err != nil {
		return err
	}
	p.mu.Lock()
	var err error
	for i := len(p.names) - 1; i >= 0; i-- {
		err = errors.Join(err, p.undoName(p.names[i]))
	}
	p.names = nil
	for ino, f := range p.files {
		err = errors.Join(err, p.putBack(f))
		delete(p.files, ino)
	}
	p.stats.Cuts++
	p.mu.Unlock()
	// Mounted again even after a failed put-back: a node restarted on the
	// bare mount point would start a new chain there, unnoticed.
	return errors.Join(err, p.mount())
}

// undoName undoes one name change. p.mu is held.
func (p *FS) undoName(c nameChange) error {
	path := filepath.Join(c.dir, c.name)
	p.stats.Names++
	if c.created {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("powercut: undo create: %w", err)
		}
		return nil
	}
	os.Remove(path) // a later creation of the name, not durable either
	if err := os.Link(c.stash, path); err != nil {
		return fmt.Errorf("powercut: undo removal: %w", err)
	}
	return os.Remove(c.stash)
}

// changedName records a name change in dir; before a removal, what the
// name holds is linked into the stash.
func (p *FS) changedName(dir, name string, created bool) syscall.Errno {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	c := nameChange{dir: dir, name: name, created: created, seq: p.seq}
	if !created {
		p.stashed++
		c.stash = filepath.Join(p.stash, fmt.Sprint(p.stashed))
		if err := os.Link(filepath.Join(dir, name), c.stash); err != nil {
			return fs.ToErrno(err)
		}
	}
	p.names = append(p.names, c)
	return 0
}

// dirSynced makes dir's name changes up to seq upTo durable.
func (p *FS) dirSynced(dir string, upTo int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.names[:0]
	for _, c := range p.names {
		if c.dir == dir && c.seq <= upTo {
			if c.stash != "" {
				os.Remove(c.stash)
			}
			continue
		}
		kept = append(kept, c)
	}
	p.names = kept
}

// putBack undoes f's writes, newest first, so the oldest (what the sync
// left) is what stays, and cuts it to its synced size. p.mu is held.
func (p *FS) putBack(f *unsynced) error {
	defer syscall.Close(f.fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(f.fd, &st); err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	lost := max(st.Size-f.synced, 0)
	for i := len(f.undo) - 1; i >= 0; i-- {
		u := f.undo[i]
		if err := restore(f.fd, u); err != nil {
			return fmt.Errorf("powercut: put back: %w", err)
		}
		lost += int64(len(u.data))
	}
	if err := syscall.Ftruncate(f.fd, f.synced); err != nil {
		return fmt.Errorf("powercut: cut back: %w", err)
	}
	if err := syscall.Fsync(f.fd); err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	if lost == 0 {
		return nil
	}
	p.stats.Files++
	p.stats.Bytes += lost
	name := "(unlinked)"
	if path, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.fd)); err == nil {
		if rel, err := filepath.Rel(p.backing, path); err == nil && st.Nlink > 0 {
			name = rel
		}
	}
	if p.stats.ByFile == nil {
		p.stats.ByFile = map[string]int64{}
	}
	p.stats.ByFile[name] += lost
	return nil
}

// restore writes u's old bytes back over what replaced them. Zeros go
// back as a hole: they read the same, and they often were one (a file
// grown by truncation), so putting them back needs no space. Written
// back, they would need it on a full disk, and the write being undone
// may have failed for that very reason after its old bytes were noted,
// which made a cut fail halfway, leaving files no disk would (seen in a
// 30-minute chaos run, a power cut on a node whose disk was full).
func restore(fd int, u undo) error {
	if allZero(u.data) {
		err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, u.off, int64(len(u.data)))
		if !errors.Is(err, syscall.EOPNOTSUPP) {
			return err
		}
	}
	_, err := syscall.Pwrite(fd, u.data, u.off)
	return err
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Close unmounts, keeping unsynced writes (a clean shutdown).
func (p *FS) Close() error { return p.unmount() }

func (p *FS) unmount() error {
	if p.srv == nil {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := p.srv.Unmount()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("powercut: unmount %s: %w", p.mountpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.srv.Wait() // no request is served after this
	p.srv = nil
	return nil
}

// Stats reports what the cuts so far lost.
func (p *FS) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.ByFile = maps.Clone(st.ByFile)
	return st
}

// changing records, before a write of n bytes at off (or a truncation to
// off, n < 0), the bytes it replaces below the file's synced size. The
// file is named by an open descriptor of its backing file (fd >= 0), or
// by its backing path.
func (p *FS) changing(fd int, path string, off, n int64) syscall.Errno {
	var st syscall.Stat_t
	var err error
	if fd >= 0 {
		err = syscall.Fstat(fd, &st)
		// Opened again, read-write, even if it is unlinked.
		path = fmt.Sprintf("/proc/self/fd/%d", fd)
	} else {
		err = syscall.Stat(path, &st)
	}
	if err != nil {
		return fs.ToErrno(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n >= 0 {
		p.stats.Writes++
	}
	f := p.files[st.Ino]
	if f == nil {
		own, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fs.ToErrno(err)
		}
		// Untouched since the mount or its last sync: what it holds is
		// durable.
		f = &unsynced{fd: own, synced: st.Size}
		p.files[st.Ino] = f
	}
	end := f.synced
	if n >= 0 {
		end = min(off+n, f.synced)
	}
	if off >= end {
		return 0
	}
	old := make([]byte, end-off)
	if _, err := syscall.Pread(f.fd, old, off); err != nil {
		return fs.ToErrno(err)
	}
	f.undo = append(f.undo, undo{off: off, data: old})
	return 0
}

// syncing notes, as a sync of the file behind fd starts, what it will
// make durable: the changes so far and the size now. A change that comes
// during the sync counts as after it (a cut may lose it).
func (p *FS) syncing(fd int) (ino uint64, changes int, size int64, ok bool) {
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil {
		return 0, 0, 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Syncs++
	f := p.files[st.Ino]
	if f == nil {
		return 0, 0, 0, false // nothing to make durable
	}
	return st.Ino, len(f.undo), st.Size, true
}

// synced marks what syncing noted as durable.
func (p *FS) synced(ino uint64, changes int, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.files[ino]
	if f == nil {
		return
	}
	f.undo = append([]undo(nil), f.undo[changes:]...)
	f.synced = size
}

// node is a loopback node whose files are tracked.
type node struct {
	fs.LoopbackNode
	p *FS
}

var (
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
)

func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.Root()))
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		if errno := n.p.changing(-1, n.backingPath(), 0, -1); errno != 0 {
			return nil, 0, errno
		}
	}
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &handle{LoopbackFile: fh.(*fs.LoopbackFile), p: n.p}, fl, 0
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	dir := n.backingPath()
	path := filepath.Join(dir, name)
	_, err := os.Lstat(path)
	existed := err == nil
	if existed && flags&syscall.O_TRUNC != 0 {
		// Create of a name that exists truncates it.
		if errno := n.p.changing(-1, path, 0, -1); errno != 0 {
			return nil, nil, 0, errno
		}
	}
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !existed {
		n.p.changedName(dir, name, true)
	}
	return ch, &handle{LoopbackFile: fh.(*fs.LoopbackFile), p: n.p}, fl, 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	dir := n.backingPath()
	if errno := n.p.changedName(dir, name, false); errno != 0 {
		return errno
	}
	return n.LoopbackNode.Unlink(ctx, name)
}

// Rename is a removal from the old directory, the removal of what the new
// name held, if anything, and a creation in the new directory.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok || flags != 0 { // exchange and no-replace: durable at once
		return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
	}
	from, to := n.backingPath(), np.backingPath()
	var fi os.FileInfo
	fi, err := os.Lstat(filepath.Join(from, name))
	if err != nil || fi.IsDir() { // directories: durable at once
		return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
	}
	if errno := n.p.changedName(from, name, false); errno != 0 {
		return errno
	}
	if _, err := os.Lstat(filepath.Join(to, newName)); err == nil {
		if errno := n.p.changedName(to, newName, false); errno != 0 {
			return errno
		}
	}
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		return errno
	}
	return n.p.changedName(to, newName, true)
}

// OpendirHandle wraps the directory handle to see its fsyncs.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{h: h, p: n.p, dir: n.backingPath()}, fl, 0
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h, _ := f.(*handle)
	if size, ok := in.GetSize(); ok {
		fd := -1
		if h != nil {
			fd = h.fd()
		}
		if errno := n.p.changing(fd, n.backingPath(), int64(size), -1); errno != 0 {
			return errno
		}
	}
	if h != nil {
		f = h.LoopbackFile // the node's Setattr calls the handle's
	}
	return n.LoopbackNode.Setattr(ctx, f, in, out)
}

// handle is an open file: writes are recorded, syncs mark it durable.
type handle struct {
	*fs.LoopbackFile
	p *FS
}

// fd is the backing file's descriptor, owned by the LoopbackFile.
func (h *handle) fd() int {
	fd, _ := h.LoopbackFile.PassthroughFd()
	return fd
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.p.changing(h.fd(), "", off, int64(len(data))); errno != 0 {
		return 0, errno
	}
	return h.LoopbackFile.Write(ctx, data, off)
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	ino, changes, size, tracked := h.p.syncing(h.fd())
	if errno := h.LoopbackFile.Fsync(ctx, flags); errno != 0 {
		return errno
	}
	if tracked {
		h.p.synced(ino, changes, size)
	}
	return 0
}

// Allocate is refused: it could change bytes this package does not track.
func (h *handle) Allocate(context.Context, uint64, uint64, uint32) syscall.Errno {
	return syscall.EOPNOTSUPP
}

// PassthroughFd refuses kernel passthrough, which would bypass Write.
func (h *handle) PassthroughFd() (int, bool) { return 0, false }

// dirHandle is an open directory: an fsync makes its name changes durable.
type dirHandle struct {
	h   fs.FileHandle // go-fuse's loopback directory stream
	p   *FS
	dir string
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.h.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.h.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.h.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	d.p.mu.Lock()
	upTo := d.p.seq // a change after the sync starts may miss it
	d.p.mu.Unlock()
	if errno := d.h.(fs.FileFsyncdirer).Fsyncdir(ctx, flags); errno != 0 {
		return errno
	}
	d.p.dirSynced(d.dir, upTo)
	return 0
}
