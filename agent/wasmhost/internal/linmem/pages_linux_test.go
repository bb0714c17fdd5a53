package linmem

import (
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// perms returns the permissions of the mapping that holds addr, as
// /proc/self/maps shows them ("rw-p"), or "" if no mapping does. The kernel
// merges neighbouring anonymous mappings with the same permissions, so a
// mapping's bounds say nothing about the memory's; its permissions do.
func perms(t *testing.T, addr uintptr) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok || len(fields) < 2 {
			continue
		}
		a, err1 := strconv.ParseUint(lo, 16, 64)
		z, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && uintptr(a) <= addr && addr < uintptr(z) {
			return fields[1]
		}
	}
	return ""
}

// resident returns how many bytes of [start, end) are in RAM or swap,
// from /proc/self/pagemap: one 64-bit entry per page, bit 63 present, bit
// 62 swapped. Unlike a mapping's Rss it counts only this range.
func resident(t *testing.T, start, end uintptr) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pages := int((end - start) / uintptr(pageSize))
	b := make([]byte, 8*pages)
	if _, err := f.ReadAt(b, int64(start/uintptr(pageSize))*8); err != nil {
		t.Fatalf("pagemap: %v", err)
	}
	var n int64
	for i := range pages {
		if binary.LittleEndian.Uint64(b[8*i:])&(1<<63|1<<62) != 0 {
			n += int64(pageSize)
		}
	}
	return n
}

// TestFreeReturnsPagesToOS reads the kernel's view of one memory: only the
// grown part is accessible, the pages the guest touched are resident, and
// after Free none is.
func TestFreeReturnsPagesToOS(t *testing.T) {
	const max = 32 * mib
	lm := New().Allocate(wasmPage, max)
	buf := lm.Reallocate(mib)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	end := base + max

	for _, c := range []struct {
		addr uintptr
		want string
	}{
		{base, "rw-p"}, {base + mib - 1, "rw-p"}, {base + mib, "---p"}, {end - 1, "---p"},
	} {
		if got := perms(t, c.addr); got != c.want {
			t.Errorf("grown to 1 MiB of 32: byte %#x has perms %q, want %q", c.addr-base, got, c.want)
		}
	}

	buf = lm.Reallocate(max)
	if got := perms(t, end-1); got != "rw-p" {
		t.Errorf("grown to 32 MiB: last byte has perms %q, want rw-p", got)
	}
	if got := resident(t, base, end); got != 0 {
		t.Errorf("grown but untouched: %d bytes resident, want 0", got)
	}
	for off := 0; off < len(buf); off += int(pageSize) {
		buf[off] = 1
	}
	if got := resident(t, base, end); got != max {
		t.Errorf("every page touched: %d bytes resident, want %d", got, max)
	}

	lm.Free()
	// The kernel may already have handed part of the range to a new
	// mapping; what matters is that the memory's pages are gone.
	if got := resident(t, base, end); got >= mib {
		t.Errorf("after Free: %d bytes resident in the memory's range, want (almost) none", got)
	}
	if got := Committed(); got != 0 {
		t.Errorf("after Free: Committed() = %d, want 0", got)
	}
}
