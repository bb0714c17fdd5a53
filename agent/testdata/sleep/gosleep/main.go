// Command gosleep is a Go plugin, in both forms, that sleeps far past any
// collector timeout with time.Sleep, then prints a series that must never
// be pushed. It uses no SDK, so that the test depends on the host alone.
// Built by sleep_test.go:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o gosleep.wasm ./agent/testdata/sleep/gosleep
package main

import (
	"os"
	"time"
)

func collect() int32 {
	time.Sleep(120 * time.Second)
	os.Stdout.WriteString("hostile_slept 1\n")
	return 0
}

func main() { os.Exit(int(collect())) }
