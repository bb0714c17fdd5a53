// Command benchplugin is the collector the benchmarks measure: a Go SDK
// plugin that emits 20 gauge series (config {"series": N} changes the
// count). It exists so that every figure in docs/benchmarks.md compares the
// same collector in each form: wasm reactor, wasm command, native binary
// (fork/exec) and native function (Collect in-process). It uses the SDK as
// a plugin author would, builders and DecodeConfig only, so its module size
// and call time are what the SDK costs every plugin.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bench.wasm ./internal/benchplugin
//	go build -o bench ./internal/benchplugin   # native, reads the config on stdin
//
// The wasm time of one warm call, without the agent around it:
//
//	go test -run '^$' -bench ReactorCall ./internal/sdkcheck
//
// and the SDK's collect path natively: go test -bench Collect (in sdk/).
//
// It must never print other series than its baselines (collect, lean):
// every figure in docs/benchmarks.md compares the same 20 lines.
package main

import (
	"github.com/pushagent/pushagent/internal/benchplugin/collect"
	"github.com/pushagent/pushagent/sdk"
)

func init() { sdk.Register(collect.Collect) }

func main() { sdk.Main() }
