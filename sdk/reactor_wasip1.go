//go:build wasip1 && !pushagent_command

package sdk

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
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
	defer settleGC()
	if err := runStdio(config); err != nil {
		return 1
	}
	return 0
}

// Go on wasm has one thread and no sysmon: the garbage collector's
// background mark worker is a goroutine that runs only when the running
// one parks. A collect function that never blocks (parsing a file, say)
// parks only in an allocation assist, and once pushagentCollect returns
// nothing runs at all until the next call. A cycle that started late in
// a run was then left half-marked, and while a cycle is in progress no
// new one starts: the heap grew by everything each later run allocated
// (19 MiB a run for a 10,000-series textfile) until the instance ran out
// of memory. So a run ends by settling the collector.
//
// A small run only waits for a cycle in progress to finish, which costs
// nothing when there is none. A large one (its output heavyOutput or
// more) is followed by a full collection: its garbage would otherwise
// stay marked live by the cycle it was allocated in, set the next heap
// goal at twice its size and leave the next run that much less room under
// the host's memory_limit, which Go's runtime cannot see. A full
// collection of the little that survives a run costs about 0.5 ms, against
// the tens of ms such a run takes. The output's size stands for what the
// run allocated because reading the runtime's own count (runtime/metrics)
// would cost every instance 0.7 MiB of memory.
func settleGC() {
	if lastOutput.Swap(0) >= heavyOutput {
		runtime.GC()
		return
	}
	// Disabling the collector waits for the mark phase in progress to
	// end; the old setting is restored at once.
	debug.SetGCPercent(debug.SetGCPercent(-1))
}

// heavyOutput is the output, in bytes, of a run large enough to be
// followed by a full collection: about 4,000 series.
const heavyOutput = 256 << 10

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
