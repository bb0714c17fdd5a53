//go:build linux || darwin || freebsd

package linmem

import (
	"fmt"
	"math"
	"runtime"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// New returns an allocator that gives every memory its own reservation of
// address space. It holds no state, so one value may serve any number of
// runtimes and goroutines.
//
// Each Allocate reserves wazero's max for the memory: the module's declared
// maximum, capped at the runtime's WithMemoryLimitPages, or that limit when
// the module declares none. wazero's default limit is 65536 pages, so a
// runtime without a lower limit would reserve 4 GiB per instance: cheap, as
// nothing is committed, but bounded by the address space (128 TiB on x86-64
// Linux, 512 GiB on arm64 kernels built with 39-bit addresses), by
// RLIMIT_AS where one is set, and by vm.max_map_count, as each memory takes
// one or two maps. RATIONALE.md has the details.
//
// When a reservation cannot be made (address space or map count exhausted,
// or a max larger than a 32-bit address space) the memory falls back to a
// Go []byte that grows by copying, as wazero's default does, rather than
// failing the instantiation; Committed still counts it.
func New() experimental.MemoryAllocator {
	return allocator{vm: osVM}
}

// vm is the virtual-memory calls an allocator makes, a seam so that tests can
// make them fail.
type vm struct {
	// reserve maps n bytes of inaccessible address space.
	reserve func(n int) ([]byte, error)
	// commit makes b, a page-aligned part of a reservation, readable and
	// writable.
	commit func(b []byte) error
}

var osVM = vm{
	reserve: func(n int) ([]byte, error) {
		return syscall.Mmap(-1, 0, n, syscall.PROT_NONE, reserveFlags)
	},
	commit: func(b []byte) error {
		return mprotect(b, syscall.PROT_READ|syscall.PROT_WRITE)
	},
}

var pageSize = uint64(syscall.Getpagesize())

// maxReserve is the largest reservation an int length can describe, less a
// page so that rounding up cannot overflow.
var maxReserve = uint64(math.MaxInt) - pageSize

func roundUp(n uint64) uint64 {
	return (n + pageSize - 1) &^ (pageSize - 1)
}

type allocator struct{ vm vm }

// Allocate implements experimental.MemoryAllocator. capacity is the memory's
// initial size (its min pages) unless the runtime was configured with
// WithMemoryCapacityFromMax, when it is max; max is described on New.
//
// The capacity is committed here, not in the Reallocate that follows, so
// that a failure to commit it falls back to the Go heap: wazero does not
// check that first Reallocate, and a nil there would panic inside
// InstantiateModule.
func (a allocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	capacity = min(capacity, max)
	m := &linearMemory{vm: a.vm, max: max, r: &region{}}
	if max > 0 && max <= maxReserve {
		if b, err := a.vm.reserve(int(roundUp(max))); err == nil {
			m.r.mapping = b
			if !m.commit(capacity) {
				m.r.release()
			}
		}
	}
	if m.r.mapping == nil {
		// A max of 0 lands here too: an empty memory needs no reservation,
		// and mmap refuses a zero length.
		m.heap = make([]byte, 0, capacity)
		m.r.account(int64(capacity))
	}
	// wazero frees a memory when its module is closed, but not always: a
	// module closed by its context while its call then traps is marked
	// closed without its resources being released, and a later Close is a
	// no-op. A Go []byte would be collected; a mapping would leak for the
	// life of the process. The cleanup unmaps it once the memory is
	// unreachable, which is also when no compiled code can still use it:
	// the engine reaches the memory through the module it runs.
	m.cleanup = runtime.AddCleanup(m, (*region).release, m.r)
	return m
}

// linearMemory implements experimental.LinearMemory. wazero calls it from one
// goroutine at a time: the one growing the memory (under the memory's lock
// for a shared memory), or the one closing the module.
type linearMemory struct {
	vm      vm
	max     uint64
	r       *region
	heap    []byte // the buffer when the memory fell back to the Go heap
	freed   bool
	cleanup runtime.Cleanup
}

// region is what must be released: the reservation, and the bytes counted in
// committed. It is apart from linearMemory so that the cleanup can hold it
// without keeping the memory reachable.
type region struct {
	mapping []byte // the whole reservation, as mmap returned it; nil if none
	counted int64  // this memory's share of committed
}

func (r *region) account(delta int64) {
	r.counted += delta
	committed.Add(delta)
}

// release unmaps the reservation and uncounts the memory. It is idempotent.
func (r *region) release() {
	if r.mapping != nil {
		if err := syscall.Munmap(r.mapping); err != nil {
			// Only a mapping that mmap did not return fails: a bug here,
			// not a condition to carry on from with a leaked mapping.
			panic(fmt.Sprintf("linmem: munmap %d bytes: %v", len(r.mapping), err))
		}
		r.mapping = nil
	}
	r.account(-r.counted)
}

// commit makes the first n bytes of the reservation, rounded up to whole OS
// pages, readable and writable. Pages are committed as the guest grows and
// never decommitted: wasm memories do not shrink.
func (m *linearMemory) commit(n uint64) bool {
	need := roundUp(n)
	have := uint64(m.r.counted)
	if need <= have {
		return true
	}
	if err := m.vm.commit(m.r.mapping[have:need]); err != nil {
		return false
	}
	m.r.account(int64(need - have))
	return true
}

// Reallocate implements experimental.LinearMemory: it returns the memory
// resized to size bytes, or nil, which wazero turns into a failed
// memory.grow (-1 in the guest), when size is past max or cannot be
// committed.
//
// The buffer's length is exactly size: the compiler engine caches its base
// and length and checks every access against that length (there are no
// guard pages), and Pages reports len/64 KiB. Its capacity is also size:
// wazero ignores the capacity of a non-shared memory and takes it as the
// committed size of a shared one, and past it lie pages that are either
// inaccessible, where an append would fault instead of reallocating, or
// that a later grow must hand to the guest still zero.
//
// A reserved memory's base never changes, so it also meets wazero's
// requirement for backing a shared memory. One on the Go heap moves when it
// grows past its capacity, as wazero's default does.
func (m *linearMemory) Reallocate(size uint64) []byte {
	if m.freed || size > m.max {
		return nil
	}
	if m.r.mapping != nil {
		if !m.commit(size) {
			return nil
		}
		return m.r.mapping[:size:size]
	}
	if n := uint64(len(m.heap)); size > uint64(cap(m.heap)) {
		// Grown like wazero's default, so that the fallback is no worse.
		old := int64(cap(m.heap))
		m.heap = append(m.heap, make([]byte, size-n)...)
		m.r.account(int64(cap(m.heap)) - old)
	}
	m.heap = m.heap[:size]
	return m.heap[:size:size]
}

// Free implements experimental.LinearMemory: it unmaps the reservation,
// which returns its pages to the OS at once, and uncounts the memory.
// It is idempotent, and later Reallocate calls return nil.
func (m *linearMemory) Free() {
	if m.freed {
		return
	}
	m.freed = true
	m.cleanup.Stop()
	m.r.release()
	m.heap = nil
}
