package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BufferLockFile is the file in a buffer directory whose lock (flock)
// says which queue owns the directory; its existence means nothing.
const BufferLockFile = "lock"

// CheckBufferDirs checks that this process can create and write the
// buffer directory of every remote_write output, as run will need to:
// validate calls it, so that a config run cannot use fails validate too.
// Its error is an [*Error] naming each directory's key, file and line.
//
// It leaves the disk as it found it: it writes a probe file and removes
// it, and removes the directories it had to create. It never takes the
// buffer's lock nor opens its segments: validate often runs beside the
// agent that owns the directory (a check before a reload, a sidecar), and
// even a brief lock could make that agent's restart fail. Whether another
// agent holds a directory is therefore checked by run, at its start.
func (c *Config) CheckBufferDirs() error {
	var problems []Problem
	for _, o := range c.AllOutputs() {
		kind, dir := o.BufferDir()
		if dir == "" {
			continue
		}
		if err := probeDir(dir); err != nil {
			path := keyPath(keyPath(keyPath(keyPath("outputs", o.Name), kind), "buffer"), "dir")
			problems = append(problems, Problem{Path: path, Line: lineOf(c.lines, path), Message: fmt.Sprintf(
				"the agent cannot create or write %s: %v; create it writable by the agent's user (uid %d runs this check), "+
					"or in a container mount a volume there owned by the image's user, like a volume at /var/lib/pushagent owned by 65532",
				dir, err, os.Getuid())})
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sortProblems(problems)
	return &Error{File: c.Path, Problems: problems}
}

// probeDir creates dir as the buffer does, writes a file in it and opens
// its lock file for writing (without locking it), then undoes what it
// created.
func probeDir(dir string) (err error) {
	// The directories that do not exist yet, deepest first: the ones to
	// remove again.
	var missing []string
	for p := dir; ; {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	defer func() {
		// os.Remove removes only empty directories: never anything an
		// agent starting meanwhile put there.
		for _, d := range missing {
			_ = os.Remove(d)
		}
	}()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".pushagent-validate-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return err
	}
	// An existing lock file must be writable: the agent opens it so to
	// lock it. Opening it takes no lock.
	if f, err := os.OpenFile(filepath.Join(dir, BufferLockFile), os.O_RDWR, 0); err == nil {
		_ = f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// BufferDir is the output's disk buffer directory and the key of the
// section that sets it ("remote_write" or "otlp"); "" for an output that
// keeps no buffer.
func (o Output) BufferDir() (kind, dir string) {
	switch {
	case o.RemoteWrite != nil:
		return "remote_write", o.RemoteWrite.Buffer.Dir
	case o.OTLP != nil:
		return "otlp", o.OTLP.Buffer.Dir
	}
	return "", ""
}
