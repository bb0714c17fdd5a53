package linmem

import "syscall"

// reserveFlags make a private anonymous mapping. macOS ignores
// MAP_NORESERVE, so it is left out.
const reserveFlags = syscall.MAP_PRIVATE | syscall.MAP_ANON

func mprotect(b []byte, prot int) error {
	return syscall.Mprotect(b, prot)
}
