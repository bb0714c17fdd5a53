package sdk

import "runtime"

// mutex guards a Collection. Go on wasm runs every goroutine on one thread
// and switches between them only inside calls into the runtime, so a
// plain flag is a lock: nothing can run between testing it and setting
// it. sync.Mutex costs several calls per Lock and Unlock on wasm, and the
// builders lock once per series.
type mutex struct{ held bool }

func (m *mutex) Lock() {
	if m.held {
		m.wait()
	}
	m.held = true
}

// wait yields until the holder unlocks: a holder can be descheduled inside
// its critical section, since an allocation may help the garbage
// collector and park. It is kept out of line so that Lock stays a test
// and a store where it is inlined.
//
//go:noinline
func (m *mutex) wait() {
	for m.held {
		runtime.Gosched()
	}
}

// TryLock locks m if it is free, and reports whether it did.
func (m *mutex) TryLock() bool {
	if m.held {
		return false
	}
	m.held = true
	return true
}

func (m *mutex) Unlock() {
	if !m.held {
		panic("sdk: unlock of unlocked mutex")
	}
	m.held = false
}
