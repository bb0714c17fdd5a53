// Package hostcall holds the //go:wasmimport declarations of the pushagent_v1
// host module that the SDK uses, and nothing else, so that the unsafe
// pointer handling of the ABI stays in one small file.
//
// It only has content on wasip1, and only package httpcall imports it, so a
// plugin that makes no HTTP requests imports nothing but WASI and loads on
// hosts without the call.
package hostcall
