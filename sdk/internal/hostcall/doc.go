// Package hostcall holds the //go:wasmimport declarations of the pushagent_v1
// host module that the SDK uses, and nothing else, so that the unsafe
// pointer handling of the ABI stays in one small file.
//
// It only has content on wasip1. The Go linker keeps an import only if a
// reachable function calls it, so a plugin that never asks for an HTTP
// client imports nothing but WASI and loads on hosts without the call.
package hostcall
