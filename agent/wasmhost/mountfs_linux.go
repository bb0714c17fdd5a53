package wasmhost

import (
	"io/fs"
	"os"
	"syscall"
)

// procSuperMagic is the f_type statfs gives for a procfs (linux/magic.h
// PROC_SUPER_MAGIC); procRootIno the inode number of its root
// (PROC_ROOT_INO).
const (
	procSuperMagic = 0x9fa0
	procRootIno    = 1
)

// Filesystem magic numbers (linux/magic.h) of the filesystems whose
// mounts DescribeMount explains.
const (
	sysfsMagic   = 0x62656572
	cgroupMagic  = 0x27e0eb
	cgroup2Magic = 0x63677270
)

type fsKind int

const (
	fsOther fsKind = iota
	fsProc
	fsSys
	fsCgroup
)

// fsType says which filesystem the directory at path is on.
func fsType(path string) fsKind {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return fsOther
	}
	switch st.Type {
	case procSuperMagic:
		return fsProc
	case sysfsMagic:
		return fsSys
	case cgroupMagic, cgroup2Magic:
		return fsCgroup
	}
	return fsOther
}

type procfsKind int

const (
	procNone   procfsKind = iota // not on a procfs
	procIsRoot                   // the root of a procfs
	procInside                   // on a procfs, below its root
)

// procKind says whether the directory at path is on a procfs, and where.
func procKind(path string) (procfsKind, error) {
	f, err := os.Open(path)
	if err != nil {
		return procNone, err
	}
	defer f.Close()
	return procKindOf(f)
}

func procKindOf(f *os.File) (procfsKind, error) {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return procNone, &fs.PathError{Op: "statfs", Path: f.Name(), Err: err}
	}
	if st.Type != procSuperMagic {
		return procNone, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return procNone, err
	}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok && s.Ino == procRootIno {
		return procIsRoot, nil
	}
	return procInside, nil
}

// maybeProcRoot is the cheap test before procKindOf: a procfs root has
// inode number 1 (so do the roots of some other filesystems, which
// procKindOf then tells apart).
func maybeProcRoot(fi fs.FileInfo) bool {
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && s.Ino == procRootIno
}
