package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync/atomic"
)

// CollectFunc gathers the metrics of one collection into c.
//
// A non-nil error fails the run: the SDK writes it to stderr, emits no metrics
// and reports failure to the host, so a half-finished collection is never
// pushed. A panic is recovered and treated the same way, so that a reactor
// instance survives a bug in one run instead of trapping.
//
// There is no context argument on purpose: the host enforces the run's deadline
// by closing the whole instance, and nothing inside the guest can observe or
// shorten that.
type CollectFunc func(c *Collection) error

// registered is written once, from a plugin's init function, before the host
// can call into the module; after that it is only read.
var registered CollectFunc

// errNotRegistered explains the one setup mistake every new plugin makes.
var errNotRegistered = errors.New("sdk: no collect function registered; call sdk.Register from the plugin's init function")

// Register makes fn the plugin's collect function. Call it from an init
// function of package main: in the reactor form the host calls the plugin
// right after the module's initialisation and main is never run, so a
// registration in main would come too late.
//
// Register panics if fn is nil or if a function is already registered; a plugin
// has exactly one collect function and both are programming errors.
func Register(fn CollectFunc) {
	if fn == nil {
		panic("sdk: Register called with a nil CollectFunc")
	}
	if registered != nil {
		panic("sdk: Register called twice; a plugin has exactly one collect function")
	}
	registered = fn
}

// Main runs the registered collect function once and exits: it reads the
// config from stdin to EOF, writes the metrics to stdout and exits with status
// 0 on success and 1 on failure. Call it from main.
//
// This makes the command form of a plugin (built without -buildmode=c-shared)
// and a native binary, handy for trying a plugin by hand:
//
//	echo '{"directory": "testdata/textfile"}' | go run ./plugins/textfile
//
// In the reactor form main is never called; the host calls the exported
// pushagent_collect function instead.
func Main() {
	config, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "level=ERROR msg=\"reading config from stdin\" err=%q\n", err.Error())
		os.Exit(1)
	}
	if err := runStdio(config); err != nil {
		os.Exit(1)
	}
}

// Collect runs the registered collect function in-process with config as the
// collector's JSON config, as the host would, and returns the exposition text
// the plugin would write to stdout. Log lines, including the error of a failed
// run, go to logs (nil discards them). It is meant for a plugin's native tests:
//
//	out, err := sdk.Collect([]byte(`{"directory": "testdata/textfile"}`), io.Discard)
func Collect(config []byte, logs io.Writer) ([]byte, error) {
	return registered.Collect(config, logs)
}

// Collect runs fn in-process as Collect runs the registered function, for
// tests of a part of a plugin, or of code that is not a plugin's main
// package:
//
//	out, err := sdk.CollectFunc(collectLoadavg).Collect(nil, nil)
func (fn CollectFunc) Collect(config []byte, logs io.Writer) ([]byte, error) {
	var out bytes.Buffer
	if err := run(fn, config, &out, logs); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// run is the one implementation behind the reactor export, Main and Collect,
// so the three forms cannot drift apart. Output is written in one piece only
// after the whole collection succeeded.
func run(fn CollectFunc, config []byte, stdout, stderr io.Writer) error {
	c := newCollection(config, stderr)
	defer c.recycle()
	err := errNotRegistered
	if fn != nil {
		err = call(fn, c)
	}
	buf := takeOut()
	defer func() { giveOut(buf) }()
	if err == nil {
		var out []byte
		if out, err = c.encode(buf); err == nil {
			buf = out
		}
	}
	if err != nil {
		c.logger.Error("collect failed", "err", err)
		return err
	}
	lastOutput.Store(int64(len(buf)))
	if _, err := stdout.Write(buf); err != nil {
		c.logger.Error("writing metrics to stdout", "err", err)
		return fmt.Errorf("sdk: writing metrics: %w", err)
	}
	return nil
}

// lastOutput is the size of the last successful run's output, for the
// reactor's garbage collection after the run.
var lastOutput atomic.Int64

// runStdio runs the registered function with the process's stdio, the
// way the agent calls a plugin. Stdout is the exposition, so while the
// function runs os.Stdout points at stderr: a stray fmt.Println becomes a
// log line instead of a line the agent cannot parse, which would fail the
// whole run.
func runStdio(config []byte) error {
	out := os.Stdout
	os.Stdout = os.Stderr
	defer func() { os.Stdout = out }()
	return run(registered, config, out, os.Stderr)
}

func call(fn CollectFunc, c *Collection) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sdk: collect function panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(c)
}
