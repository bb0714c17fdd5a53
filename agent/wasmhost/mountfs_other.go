//go:build !linux

package wasmhost

import (
	"io/fs"
	"os"
)

// Only Linux's procfs has the per-process entries mountFS hides; elsewhere
// a mount is a plain os.Root.

type fsKind int

const (
	fsOther fsKind = iota
	fsProc
	fsSys
	fsCgroup
)

func fsType(string) fsKind { return fsOther }

type procfsKind int

const (
	procNone procfsKind = iota
	procIsRoot
	procInside
)

func procKind(string) (procfsKind, error)     { return procNone, nil }
func procKindOf(*os.File) (procfsKind, error) { return procNone, nil }
func maybeProcRoot(fs.FileInfo) bool          { return false }
