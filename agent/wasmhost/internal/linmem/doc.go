// Package linmem backs the linear memory of wazero module instances with a
// reservation of address space instead of a Go []byte.
//
// wazero's default grows a memory by allocating a larger []byte and copying
// the old one into it. Every outgrown buffer stays in the Go heap until the
// next GC, and the heap goes back to the OS lazily, so a plugin that grows to
// 32 MiB raises the agent's peak RSS by several times that, and keeps it
// raised after the instance is gone. Here each memory reserves its maximum
// size of address space once, inaccessible, and growing only makes more of
// it readable and writable: the buffer never moves and is never copied, and
// closing the instance unmaps it, which gives the pages back to the OS at
// once.
//
// Use it by putting New on the context given to InstantiateModule:
//
//	ctx = experimental.WithMemoryAllocator(ctx, linmem.New())
//
// On platforms without mmap New returns nil, which WithMemoryAllocator
// ignores, so wazero keeps its default there.
//
// Because the memory is unmapped when the module is closed, and not when the
// last Go reference to it is dropped, the caller must keep two rules that
// wazero's default forgives:
//   - a module must not be closed (Module.Close, Runtime.Close) while a call
//     into it, or a host function it called, is still running on another
//     goroutine. wazero's close on context done (WithCloseOnContextDone) is
//     safe: it defers the release to the goroutine running the call;
//   - a slice from api.Memory.Read must not be used after its module is
//     closed.
//
// Breaking either reads or writes unmapped memory, which kills the process
// with SIGSEGV instead of touching a stale buffer.
//
// The package must never reuse a reservation for another instance, even
// zeroed: a stale reference into a closed instance's memory would then read
// or write another plugin's data. And it must never hand wazero a buffer
// whose capacity reaches past its length: past it lie pages that are
// inaccessible, or that a later grow must give the guest still zero.
// RATIONALE.md says what wazero expects of the buffer, and what was
// measured.
package linmem
