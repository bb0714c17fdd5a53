package linmem

import "sync/atomic"

// committed is the one count of the bytes that live memories hold.
var committed atomic.Int64

// Committed returns how many bytes of linear memory the live memories made
// by New's allocators hold: for a reservation, the part made accessible,
// which bounds the RSS it can add (pages a guest never touched cost
// nothing); for a memory that had to fall back to the Go heap, its
// buffer's capacity. A memory stops counting when wazero frees it, that is
// when its module is closed, or, if wazero never frees it, when the garbage
// collector finds it unreachable.
//
// It is always 0 where New returns nil. Safe to call concurrently.
func Committed() int64 {
	return committed.Load()
}
