package main

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// fileOptions is the Starlark dialect of collector scripts: the standard one
// plus what top-level scripts need (if/for at top level, a global updated
// in a loop, sets). while and recursion stay off, as in standard Starlark,
// so that every loop is over something finite; max_steps bounds the rest.
var fileOptions = syntax.FileOptions{
	Set:             true,
	TopLevelControl: true,
	GlobalReassign:  true,
}

// maxCachedPrograms bounds the cache: a plugin instance serves the few
// collectors that share its sandbox grants, each with one script, and an
// edited script leaves its old version behind until it is evicted.
const maxCachedPrograms = 8

// programs holds the compiled scripts. A reactor instance stays warm across
// runs, so a script is parsed and compiled once, not on every collection.
var programs = programCache{max: maxCachedPrograms}

// programKey identifies a compiled program: the name used in its error
// positions and a hash of its source. Keying by content rather than by file
// modification time means an edited script_file is never run stale, even
// when it was rewritten within the file system's mtime granularity, and two
// collectors with the same inline script share one entry.
//
// The hash is maphash's 64 bits with a seed chosen per instance, not a
// cryptographic one: the cache only has to tell apart the few versions of a
// script one instance sees, which 64 random bits do with a chance of a
// mistake far below that of a hardware fault, and crypto/sha256 would add
// the standard library's FIPS module to the plugin.
type programKey struct {
	name string
	sum  uint64
}

// hashSeed is the seed of every programKey of this instance.
var hashSeed = maphash.MakeSeed()

// programCache is a small LRU cache of compiled programs. Programs are
// immutable, so one may be run by several threads at once; the mutex only
// guards the cache itself.
type programCache struct {
	mu      sync.Mutex
	max     int
	entries []cacheEntry // most recently used first
	// compiles counts compilations, so tests can prove that runs reuse them.
	compiles int
}

type cacheEntry struct {
	key  programKey
	prog *starlark.Program
}

// get returns the compiled program for src, compiling it on a miss, which it
// reports in compiled. A script
// that does not compile is not cached: it fails every run until it is fixed,
// and a failed run is cheap.
func (pc *programCache) get(name string, src []byte) (prog *starlark.Program, compiled bool, err error) {
	key := programKey{name: name, sum: maphash.Bytes(hashSeed, src)}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if i := slices.IndexFunc(pc.entries, func(e cacheEntry) bool { return e.key == key }); i >= 0 {
		e := pc.entries[i]
		copy(pc.entries[1:i+1], pc.entries[:i])
		pc.entries[0] = e
		return e.prog, false, nil
	}
	prog, err = compile(name, src)
	pc.compiles++
	if err != nil {
		return nil, true, err
	}
	if len(pc.entries) >= pc.max {
		pc.entries = pc.entries[:pc.max-1]
	}
	pc.entries = slices.Insert(pc.entries, 0, cacheEntry{key: key, prog: prog})
	return prog, true, nil
}

// stats returns the number of cached programs and of compilations so far.
func (pc *programCache) stats() (cached, compiles int) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.entries), pc.compiles
}

// compile parses and resolves src. Every resolver error is reported, each
// with its file:line:col, not only the first.
func compile(name string, src []byte) (*starlark.Program, error) {
	_, prog, err := starlark.SourceProgramOptions(&fileOptions, name, src, isPredeclared)
	if err == nil {
		return prog, nil
	}
	var list resolve.ErrorList
	if errors.As(err, &list) && len(list) > 1 {
		msgs := make([]string, len(list))
		for i, e := range list {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("%s does not compile:\n%s", describe(name), strings.Join(msgs, "\n"))
	}
	return nil, fmt.Errorf("%s does not compile: %w", describe(name), err)
}
