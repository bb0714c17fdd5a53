//go:build wasip1 && !pushagent_command

package sdk

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// This file can be left out of command builds (-tags pushagent_command) so
// that a command module does not export pushagent_collect: a host that took
// such a module for a reactor would call it without _start ever having
// initialised the Go runtime, which traps. pushagent itself classifies a
// module with _start and no _initialize as a command, so it copes either way.

// pushagentCollect is the reactor entry point of plugin ABI v1: the host
// calls it once per collection on a warm instance, with a fresh stdin
// holding the config. It must return rather than exit: proc_exit would kill
// the instance the host wants to reuse.
//
//go:wasmexport pushagent_collect
func pushagentCollect() int32 {
	config, err := readConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "level=ERROR msg=\"reading config from stdin\" err=%q\n", err.Error())
		return 1
	}
	if err := runStdio(config); err != nil {
		return 1
	}
	return 0
}

// stdinBuf is where pushagentCollect reads the config, kept between calls
// so that a run does not allocate a buffer for it: only the copy that the
// run's Collection holds, since a plugin may keep what Config returns.
var stdinBuf = make([]byte, 0, 512)

func readConfig() ([]byte, error) {
	b := stdinBuf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := os.Stdin.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if cap(b) <= maxRecycledBytes {
		stdinBuf = b
	}
	if len(b) == 0 {
		return nil, nil
	}
	return bytes.Clone(b), nil
}
