// Command httpcall is a test plugin (command form) for the http_request
// host call, written against the raw ABI rather than the SDK. Its config is
// a JSON list of request objects; it makes each call and prints each
// result JSON on a line of its own.
//
// Built by the tests: GOOS=wasip1 GOARCH=wasm go build -o httpcall.wasm ./agent/wasmhost/testdata/httpcall
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"unsafe"
)

//go:wasmimport pushagent_v1 http_request
func httpRequest(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport pushagent_v1 http_result
func httpResult(ptr unsafe.Pointer, n uint32) int32

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Exit(1)
	}
	var reqs []json.RawMessage
	if err := json.Unmarshal(in, &reqs); err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(1)
	}
	for _, r := range reqs {
		n := httpRequest(unsafe.Pointer(&r[0]), uint32(len(r)))
		if n < 0 {
			fmt.Println(`{"error":"http_request returned -1"}`)
			continue
		}
		buf := make([]byte, n+1) // +1: a zero-length result still needs a valid pointer
		got := httpResult(unsafe.Pointer(&buf[0]), uint32(n))
		fmt.Println(string(buf[:got]))
	}
}
