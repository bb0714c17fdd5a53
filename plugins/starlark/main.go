// Command starlark is a pushagent plugin that runs a user's Starlark script
// on every collection: the script fetches what it needs over HTTP, decodes
// it and reports metrics, so a one-off collector needs neither a compiler
// nor a new plugin. The interpreter (go.starlark.net) is compiled into the
// plugin; the README is the reference of the script API.
//
// A script must never reach more than its collector grants: it has no file
// system access (the script file itself is read by the plugin, not by the
// script), no load() of other files, and only the agent's allow-listed HTTP.
// Its Starlark steps are bounded by max_steps; everything else (time in
// built-ins, memory) is bounded by the collector's timeout and memory_limit.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.starlark.net/starlark"

	"github.com/pushagent/pushagent/sdk"
)

type config struct {
	// Script is the script's source, inline in the collector config.
	Script string `json:"script"`
	// ScriptFile is a guest path to the script, usually in a mounted
	// directory such as /scripts. Exactly one of Script and ScriptFile.
	ScriptFile string `json:"script_file"`
	// Vars is a JSON object the script sees as the dict vars, so one script
	// serves several collectors with different URLs or labels.
	Vars json.RawMessage `json:"vars"`
	// MaxSteps bounds the Starlark computation steps of one run; 0 means
	// defaultMaxSteps.
	MaxSteps uint64 `json:"max_steps"`
}

const (
	// defaultMaxSteps is far more than a collection script needs (decoding
	// and reporting a few thousand series takes well under a million) and
	// still ends a runaway loop in about a second, long before the
	// collector's timeout would close the whole instance.
	defaultMaxSteps = 10_000_000
	// maxScriptSize bounds what script_file may hold, so a mount pointing at
	// the wrong file cannot make the plugin read a log file into memory.
	maxScriptSize = 1 << 20
	// inlineName names an inline script in error positions ("script:3:5"),
	// after the config key it came from.
	inlineName = "script"
)

func init() { sdk.Register(collect) }

func main() { sdk.Main() }

func collect(c *sdk.Collection) error {
	var cfg config
	if err := c.DecodeConfig(&cfg); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	name, src, err := cfg.source()
	if err != nil {
		return err
	}
	prog, compiled, err := programs.get(name, src)
	if err != nil {
		return err
	}
	if compiled {
		c.Logger().Debug("compiled script", "script", name)
	}
	steps := cfg.MaxSteps
	if steps == 0 {
		steps = defaultMaxSteps
	}
	return execute(c, prog, cfg.Vars, steps)
}

// validate reports every problem of the config at once.
func (cfg config) validate() error {
	var errs []error
	switch {
	case cfg.Script == "" && cfg.ScriptFile == "":
		errs = append(errs, errors.New(`config: one of "script" or "script_file" is required`))
	case cfg.Script != "" && cfg.ScriptFile != "":
		errs = append(errs, errors.New(`config: "script" and "script_file" are mutually exclusive`))
	}
	if v := bytes.TrimSpace(cfg.Vars); len(v) > 0 && v[0] != '{' && !bytes.Equal(v, []byte("null")) {
		errs = append(errs, fmt.Errorf(`config: "vars" must be a JSON object, got %.40s`, v))
	}
	return errors.Join(errs...)
}

// source returns the script's name, as used in error positions, and its
// text. A script_file is read on every run: that is a few microseconds for a
// script, and the program cache is keyed by content, so an edited file is
// recompiled on the next run even when its mtime did not change.
func (cfg config) source() (string, []byte, error) {
	if cfg.ScriptFile == "" {
		return inlineName, []byte(cfg.Script), nil
	}
	f, err := os.Open(cfg.ScriptFile)
	if err != nil {
		return "", nil, fmt.Errorf("reading script_file: %w (is its directory mounted?)", err)
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxScriptSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("reading script_file: %w", err)
	}
	if len(src) > maxScriptSize {
		return "", nil, fmt.Errorf("script_file %s is larger than %d bytes", cfg.ScriptFile, maxScriptSize)
	}
	return cfg.ScriptFile, src, nil
}

// execute runs prog's top level once, with the modules bound to c. A Starlark
// error fails the run with the script's backtrace, positions as file:line:col.
func execute(c *sdk.Collection, prog *starlark.Program, rawVars json.RawMessage, maxSteps uint64) error {
	name := prog.Filename()
	thread := &starlark.Thread{
		Name:  name,
		Print: func(_ *starlark.Thread, msg string) { c.Logger().Info(msg) },
		Load: func(*starlark.Thread, string) (starlark.StringDict, error) {
			return nil, errors.New("load() is not supported: a collector script is a single file")
		},
	}
	thread.SetMaxExecutionSteps(maxSteps)
	thread.OnMaxSteps = func(th *starlark.Thread) {
		th.Cancel(fmt.Sprintf("the script exceeded max_steps (%d); raise max_steps in the collector config if it really needs more", maxSteps))
	}
	thread.SetLocal(runKey, &run{c: c})
	vars, err := decodeVars(thread, rawVars)
	if err != nil {
		return err
	}
	if _, err := prog.Init(thread, predeclared(vars)); err != nil {
		var evalErr *starlark.EvalError
		if errors.As(err, &evalErr) {
			// fail("x") reads "Error in fail: fail: x" in Starlark's own backtrace.
			bt := strings.Replace(evalErr.Backtrace(), "Error in fail: fail: ", "Error in fail: ", 1)
			return fmt.Errorf("%s failed:\n%s", describe(name), bt)
		}
		return fmt.Errorf("%s failed: %w", describe(name), err)
	}
	c.Logger().Debug("script finished", "script", name, "steps", thread.ExecutionSteps())
	return nil
}

// describe names a script in errors: "inline script" or "script <path>".
func describe(name string) string {
	if name == inlineName {
		return "inline script"
	}
	return "script " + name
}
