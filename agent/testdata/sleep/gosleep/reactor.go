//go:build wasip1

package main

//go:wasmexport pushagent_collect
func pushagentCollect() int32 { return collect() }
