package linmem

import (
	"syscall"
	"unsafe"
)

// reserveFlags make a private anonymous mapping. FreeBSD has rejected
// MAP_NORESERVE since 11.0, so it is left out.
const reserveFlags = syscall.MAP_PRIVATE | syscall.MAP_ANON

// mprotect is the system call itself: the syscall package has no wrapper for
// it on FreeBSD, and this one call does not justify a dependency.
func mprotect(b []byte, prot int) error {
	if len(b) == 0 {
		return nil
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MPROTECT, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(prot))
	if errno != 0 {
		return errno
	}
	return nil
}
