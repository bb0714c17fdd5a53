package linmem

import "syscall"

// reserveFlags make a private anonymous mapping. MAP_NORESERVE keeps the
// reservation, and the pages later made writable, out of the kernel's
// commit charge under heuristic overcommit, as a sparse Go heap would be;
// under strict overcommit the kernel ignores it, charges the pages when
// they are made writable, and a grow past the commit limit fails with -1 in
// the guest rather than the agent being killed later.
const reserveFlags = syscall.MAP_PRIVATE | syscall.MAP_ANONYMOUS | syscall.MAP_NORESERVE

func mprotect(b []byte, prot int) error {
	return syscall.Mprotect(b, prot)
}
