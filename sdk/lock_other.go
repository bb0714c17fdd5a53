//go:build !wasm

package sdk

import "sync"

// mutex guards a Collection; see lock_wasm.go for why wasm has its own.
type mutex struct{ sync.Mutex }
