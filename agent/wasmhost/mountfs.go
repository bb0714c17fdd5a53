package wasmhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// A plugin runs inside the agent's process, so a procfs granted whole would
// hand it the agent itself: /proc/self/environ holds every secret given by
// environment (including the env: grants of other collectors) and
// /proc/self/mem the agent's memory, with the passwords read from files.
// So wherever a mount meets a procfs (mounted at the mount's root or
// anywhere below it, found by its filesystem magic, not by its path), the
// plugin may enter it only through its system-wide files: the per-process
// entries are hidden from lookups and listings alike, as if absent.
//
// The check is made on the path as resolved, component by component, with
// every symbolic link followed by this code rather than by the kernel, so no
// spelling of a path reaches a hidden entry: not "..", not a symlink
// (/proc/self is one, to the agent's pid), not a directory descriptor
// opened earlier (WASI's openat joins the directory's path to the name, and
// the join comes here).

// hiddenProc are the entries of a procfs root a plugin never sees besides
// the numeric per-process directories: the links to the agent's own
// directories, and the files that read kernel memory or consume the
// kernel log (only root may open those, and the agent may run as root).
var hiddenProc = map[string]bool{
	"self":        true,
	"thread-self": true,
	"kcore":       true,
	"kmsg":        true,
	"kpagecount":  true,
	"kpageflags":  true,
	"kpagecgroup": true,
}

// procAlias are the procfs root's links into self that name tables shared
// by the whole namespace, not anything of one process: net is the network
// namespace's interfaces, sockets and routes (net/dev is what collectors
// read), mounts the mount namespace's mount table. They are entered without
// resolving the link, so nothing else under self becomes reachable: a ".."
// after them is taken lexically, back to the procfs root.
var procAlias = map[string]bool{"net": true, "mounts": true}

// procHidden reports whether name, an entry of a procfs root, is hidden.
func procHidden(name string) bool {
	if hiddenProc[name] {
		return true
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return name != ""
}

// maxSymlinks bounds the links followed in one lookup, as the kernel's
// ELOOP does.
const maxSymlinks = 40

// errPathEscapes is what a path that leaves the mount gets; the same
// words as os.Root's.
var errPathEscapes = errors.New("path escapes from parent")

// mountFS is one read-only mount: an fs.FS over an os.Root (which keeps
// every lookup inside the host directory and has no write operations), with
// the procfs rule above. wazero's fs.FS adapter hands it clean paths
// relative to the mount, and calls Open for every lookup, stat included.
type mountFS struct {
	root *os.Root
	// procRoot says the host directory itself is the root of a procfs.
	procRoot bool
}

// newMountFS opens dir as a mount. A directory inside a procfs, other than
// its root, is refused when it is (or resolves to) a per-process directory:
// there is no way to grant part of a process.
func newMountFS(dir string) (*mountFS, error) {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	kind, err := procKind(resolved)
	if err != nil {
		return nil, err
	}
	if kind == procInside {
		if sub, ok := procSubpath(resolved); !ok || procHidden(strings.SplitN(sub, "/", 2)[0]) {
			return nil, fmt.Errorf("%s is inside a procfs and belongs to a process (%s): a plugin runs in the agent's process, so per-process entries are never granted; mount the procfs root and read its system-wide files", dir, resolved)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &mountFS{root: root, procRoot: kind == procIsRoot}, nil
}

// procSubpath is dir's path below the root of the procfs holding it.
func procSubpath(dir string) (string, bool) {
	for p := dir; p != "/" && p != "."; p = filepath.Dir(p) {
		parent := filepath.Dir(p)
		if k, err := procKind(parent); err == nil && k == procIsRoot {
			return strings.TrimPrefix(dir, parent+"/"), true
		}
	}
	return "", false
}

func (m *mountFS) Close() error { return m.root.Close() }

// Open implements fs.FS.
func (m *mountFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	p, procDir, err := m.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := m.root.Open(p)
	if err != nil {
		return nil, err
	}
	if procDir {
		return &procRootDir{f: f}, nil
	}
	return f, nil
}

// resolve returns name's path inside the mount with every symbolic link
// resolved (except the procAlias links), and whether it is the root of a
// procfs. It refuses a hidden procfs entry with ENOENT, and a path leaving
// the mount (an absolute link target, or ".." above the root) as os.Root
// does.
func (m *mountFS) resolve(name string) (string, bool, error) {
	var done []string          // resolved components
	proc := []bool{m.procRoot} // proc[i]: done[:i] is a procfs root
	todo := splitPath(name)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", false, errPathEscapes
			}
			done, proc = done[:len(done)-1], proc[:len(proc)-1]
			continue
		}
		if proc[len(done)] {
			if procHidden(c) {
				return "", false, syscall.ENOENT
			}
			if procAlias[c] {
				done, proc = append(done, c), append(proc, false)
				continue
			}
		}
		p := path.Join(append(done[:len(done):len(done)], c)...)
		fi, err := m.root.Lstat(p)
		if err != nil {
			return "", false, unwrapPathError(err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxSymlinks {
				return "", false, syscall.ELOOP
			}
			target, err := m.root.Readlink(p)
			if err != nil {
				return "", false, unwrapPathError(err)
			}
			if path.IsAbs(target) {
				return "", false, errPathEscapes
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		isProc := false
		if fi.IsDir() {
			if isProc, err = m.isProcRoot(p, fi); err != nil {
				return "", false, unwrapPathError(err)
			}
		}
		done, proc = append(done, c), append(proc, isProc)
	}
	if len(done) == 0 {
		return ".", proc[0], nil
	}
	return path.Join(done...), proc[len(done)], nil
}

func splitPath(p string) []string {
	if p == "" || p == "." {
		return nil
	}
	return strings.Split(p, "/")
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// isProcRoot reports whether the directory at p, whose Lstat is fi, is the
// root of a procfs. Only a directory with the procfs root's inode number
// is opened to ask its filesystem, so the lookup costs one open per
// mount point met, not per component.
func (m *mountFS) isProcRoot(p string, fi fs.FileInfo) (bool, error) {
	if !maybeProcRoot(fi) {
		return false, nil
	}
	f, err := m.root.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	kind, err := procKindOf(f)
	return kind == procIsRoot, err
}

// procRootDir is an open procfs root: reading it lists only what Open lets
// a plugin reach. It deliberately has no Readdir method (os.File's), which
// wazero would prefer to ReadDir and which would list everything.
type procRootDir struct{ f *os.File }

func (d *procRootDir) Stat() (fs.FileInfo, error) { return d.f.Stat() }
func (d *procRootDir) Read(b []byte) (int, error) { return d.f.Read(b) }
func (d *procRootDir) Close() error               { return d.f.Close() }

// ReadDir implements fs.ReadDirFile. With n > 0 it returns at least one
// entry unless the directory is done, as the interface promises, however
// many hidden entries it skips.
func (d *procRootDir) ReadDir(n int) ([]fs.DirEntry, error) {
	for {
		entries, err := d.f.ReadDir(n)
		kept := entries[:0]
		for _, e := range entries {
			if !procHidden(e.Name()) {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 || err != nil || n <= 0 {
			return kept, err
		}
	}
}

// DescribeMount says what a mount of the host directory dir exposes when
// that is more than its files: a procfs, a sysfs, a cgroup filesystem,
// or a directory holding a procfs (the host's /). It returns "" for a
// plain directory, and for one it cannot read (the run reports that).
// validate prints it, so that whoever grants /proc or /sys reads what the
// plugin will see.
func DescribeMount(dir string) string {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	switch fsType(resolved) {
	case fsProc:
		if k, _ := procKind(resolved); k == procIsRoot {
			return "a procfs: the plugin reads its system-wide files (stat, meminfo, loadavg, diskstats, pressure/, sys/, and net/ and mounts, the tables of the agent's network and mount namespaces); self, thread-self, every process's directory (the agent's own included: its environment and memory), kcore, kmsg and kpage* are hidden"
		}
		if sub, ok := procSubpath(resolved); !ok || procHidden(strings.SplitN(sub, "/", 2)[0]) {
			return "a process's directory in a procfs (" + resolved + "), which is never granted: every run fails; mount the procfs root instead"
		}
		return "inside a procfs: the plugin reads the files below it, all system-wide"
	case fsSys:
		return "a sysfs: the plugin reads the whole host's devices, block and network device statistics and kernel settings, read-only; sysfs holds no process's memory or environment, but fs/cgroup lists every cgroup's processes and resource use"
	case fsCgroup:
		return "a cgroup filesystem: the plugin reads every cgroup's resource use and the ids of its processes, read-only"
	}
	if k, _ := procKind(filepath.Join(resolved, "proc")); k == procIsRoot {
		return "a directory holding a procfs at proc: the plugin reads everything below it that the agent's user can read, and of the procfs its system-wide files only, as with a /proc grant"
	}
	return ""
}
