//go:build !(linux || darwin || freebsd)

package linmem

import "github.com/tetratelabs/wazero/experimental"

// New returns nil on this platform: it has no mmap to reserve address space
// with. experimental.WithMemoryAllocator ignores a nil allocator, so wazero
// keeps its default, a []byte that is copied as it grows.
func New() experimental.MemoryAllocator {
	return nil
}
