//go:build linux || darwin || freebsd

package linmem

import (
	"bytes"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"unsafe"
)

const (
	kib = 1 << 10
	mib = 1 << 20
	// wasmPage is the unit wazero sizes memories in.
	wasmPage = 64 * kib
)

// vms are the system calls the tests run the allocator with; each entry
// makes a fresh value, so that stateful ones start over.
var vms = map[string]func() vm{
	"os": func() vm { return osVM },
	"reserve fails": func() vm {
		return vm{
			reserve: func(int) ([]byte, error) { return nil, syscall.ENOMEM },
			commit:  osVM.commit,
		}
	},
	"commit fails": func() vm {
		return vm{
			reserve: osVM.reserve,
			commit:  func([]byte) error { return syscall.ENOMEM },
		}
	},
	"second commit fails": func() vm {
		n := 0
		return vm{
			reserve: osVM.reserve,
			commit: func(b []byte) error {
				if n++; n > 1 {
					return syscall.ENOMEM
				}
				return osVM.commit(b)
			},
		}
	},
}

// step is one Reallocate and whether it must succeed.
type step struct {
	size uint64
	ok   bool
}

func TestReallocate(t *testing.T) {
	tests := []struct {
		name          string
		vm            string
		capacity, max uint64
		wantMapped    bool
		steps         []step
	}{
		{
			name: "grows within the reservation", vm: "os",
			capacity: wasmPage, max: 4 * mib, wantMapped: true,
			steps: []step{{wasmPage, true}, {2 * wasmPage, true}, {mib, true}, {4 * mib, true}},
		},
		{
			name: "starts empty", vm: "os",
			capacity: 0, max: mib, wantMapped: true,
			steps: []step{{0, true}, {wasmPage, true}},
		},
		{
			name: "grow past max fails and keeps the memory", vm: "os",
			capacity: wasmPage, max: 4 * wasmPage, wantMapped: true,
			steps: []step{{wasmPage, true}, {5 * wasmPage, false}, {4 * wasmPage, true}, {5 * wasmPage, false}},
		},
		{
			name: "capacity from max commits it all at once", vm: "os",
			capacity: mib, max: mib, wantMapped: true,
			steps: []step{{wasmPage, true}, {mib, true}},
		},
		{
			name: "max of zero needs no reservation", vm: "os",
			capacity: 0, max: 0, wantMapped: false,
			steps: []step{{0, true}, {wasmPage, false}},
		},
		{
			name: "failed reservation falls back to the heap", vm: "reserve fails",
			capacity: wasmPage, max: mib, wantMapped: false,
			steps: []step{{wasmPage, true}, {3 * wasmPage, true}, {mib, true}, {mib + wasmPage, false}},
		},
		{
			name: "failed first commit falls back to the heap", vm: "commit fails",
			capacity: wasmPage, max: mib, wantMapped: false,
			steps: []step{{wasmPage, true}, {mib, true}},
		},
		{
			name: "failed commit on grow returns nil and keeps the memory", vm: "second commit fails",
			capacity: wasmPage, max: mib, wantMapped: true,
			steps: []step{{wasmPage, true}, {2 * wasmPage, false}, {wasmPage, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lm := allocator{vm: vms[tt.vm]()}.Allocate(tt.capacity, tt.max)
			m := lm.(*linearMemory)
			defer lm.Free()
			if mapped := m.r.mapping != nil; mapped != tt.wantMapped {
				t.Fatalf("reserved = %v, want %v", mapped, tt.wantMapped)
			}
			var prev []byte
			for i, s := range tt.steps {
				buf := lm.Reallocate(s.size)
				if !s.ok {
					if buf != nil {
						t.Fatalf("step %d: Reallocate(%d) returned %d bytes, want nil", i, s.size, len(buf))
					}
					continue
				}
				if buf == nil {
					t.Fatalf("step %d: Reallocate(%d) = nil", i, s.size)
				}
				if uint64(len(buf)) != s.size || cap(buf) != len(buf) {
					t.Fatalf("step %d: len %d cap %d, want both %d", i, len(buf), cap(buf), s.size)
				}
				if tt.wantMapped && prev != nil && unsafe.SliceData(buf) != unsafe.SliceData(prev) {
					t.Fatalf("step %d: base moved from %p to %p", i, unsafe.SliceData(prev), unsafe.SliceData(buf))
				}
				checkMarks(t, i, buf, len(prev))
				if got := Committed(); got < int64(s.size) {
					t.Fatalf("step %d: Committed() = %d, want at least %d", i, got, s.size)
				}
				prev = buf
			}
			lm.Free()
			if got := Committed(); got != 0 {
				t.Fatalf("Committed() after Free = %d, want 0", got)
			}
			if buf := lm.Reallocate(0); buf != nil {
				t.Fatalf("Reallocate after Free returned %d bytes, want nil", len(buf))
			}
		})
	}
}

// checkMarks checks that buf kept the marks written into its first prevLen
// bytes, that the rest is zero as wasm requires of grown memory, and marks
// the rest: one byte per 4 KiB, which also makes every page resident.
func checkMarks(t *testing.T, step int, buf []byte, prevLen int) {
	t.Helper()
	prevLen = min(prevLen, len(buf))
	for off := 0; off < prevLen; off += 4 * kib {
		if want := mark(off); buf[off] != want {
			t.Fatalf("step %d: byte %d = %d after grow, want %d", step, off, buf[off], want)
		}
	}
	if n := len(buf) - prevLen - bytes.Count(buf[prevLen:], []byte{0}); n != 0 {
		t.Fatalf("step %d: %d grown bytes are not zero", step, n)
	}
	for off := prevLen; off < len(buf); off += 4 * kib {
		buf[off] = mark(off)
	}
}

func mark(off int) byte { return byte(off/(4*kib))%251 + 1 }

func TestFreeIsIdempotent(t *testing.T) {
	lm := New().Allocate(wasmPage, mib)
	lm.Reallocate(wasmPage)
	lm.Free()
	lm.Free()
	if got := Committed(); got != 0 {
		t.Fatalf("Committed() = %d, want 0", got)
	}
}

// TestCleanupReleasesUnfreedMemory covers the memory that wazero never
// frees (see Allocate): once unreachable it must be unmapped and uncounted,
// as a Go []byte would be collected.
func TestCleanupReleasesUnfreedMemory(t *testing.T) {
	func() {
		lm := New().Allocate(wasmPage, mib)
		lm.Reallocate(mib)
	}()
	if got := Committed(); got != mib {
		t.Fatalf("Committed() = %d, want %d", got, mib)
	}
	// Cleanups run on their own goroutine after the collection that finds
	// the memory unreachable; a few collections give it the chance.
	for i := 0; Committed() != 0; i++ {
		if i == 100 {
			t.Fatalf("Committed() = %d after %d collections, want 0", Committed(), i)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

// TestConcurrentMemories grows and frees memories from many goroutines, as
// the agent's runs do, so that the race detector sees the shared count.
func TestConcurrentMemories(t *testing.T) {
	a := New()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 8 {
				lm := a.Allocate(wasmPage, mib)
				for size := uint64(wasmPage); size <= mib; size += 4 * wasmPage {
					buf := lm.Reallocate(size)
					buf[len(buf)-1] = 1
					_ = Committed()
				}
				lm.Free()
			}
		})
	}
	wg.Wait()
	if got := Committed(); got != 0 {
		t.Fatalf("Committed() = %d, want 0", got)
	}
}
