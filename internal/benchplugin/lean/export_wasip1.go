package main

import (
	"io"
	"os"
)

//go:wasmexport pushagent_collect
func pushagentCollect() int32 {
	config, err := io.ReadAll(os.Stdin)
	if err != nil {
		return 1
	}
	out, err := collectText(config, nil)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	if _, err := os.Stdout.Write(out); err != nil {
		return 1
	}
	return 0
}
