// Building a plugin to wasm and running it under wazero the way the agent
// does, for tests that must prove a plugin works as a real module and not
// only natively with sdk.Collect: that it compiles for wasip1, that the
// reactor export survives repeated calls, and that it reads only what the
// sandbox mounts. It lives here, not in the sdk module, because the sdk
// module has no requirements and wazero is one.
//
//	func TestUnderWazero(t *testing.T) {
//		rt := plugintest.NewRuntime(t, plugintest.Build(t, ".", true))
//		re := rt.NewReactor(wazero.NewFSConfig().WithReadOnlyDirMount("testdata/data", "/data"))
//		res := re.Collect(`{"dir": "/data"}`)
//		if res.Code != 0 {
//			t.Fatalf("failed: %s", res.Stderr)
//		}
//	}
//
// LoadReactor is the alternative that runs a plugin through the agent's own
// host (agent/wasmhost), with its limits and host calls.

package plugintest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pushagent/pushagent/internal/testenv"
)

// Build compiles the main package in pkgDir (a path as go build takes it,
// relative to the test's directory) for wasip1, as a reactor
// (-buildmode=c-shared) or a command (-tags pushagent_command).
// Without a go tool the test is skipped on a developer machine but fails when
// CI=true, where a skip would hide that the wasm form is untested.
func Build(t testing.TB, pkgDir string, reactor bool) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go tool not found, and CI=true forbids skipping: %v", err)
		}
		t.Skipf("go tool not found: %v", err)
	}
	out := filepath.Join(t.TempDir(), "plugin.wasm")
	args := []string{"build", "-o", out}
	if reactor {
		args = append(args, "-buildmode=c-shared")
	} else {
		args = append(args, "-tags=pushagent_command")
	}
	args = append(args, pkgDir)
	cmd := exec.Command(goTool, args...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	form := "command"
	if reactor {
		form = "reactor"
	}
	t.Logf("built %s as a %s: %d bytes", pkgDir, form, len(wasm))
	return wasm
}

// Runtime is a wazero runtime with WASI, closed when the test ends.
type Runtime struct {
	t        testing.TB
	ctx      context.Context
	r        wazero.Runtime
	compiled wazero.CompiledModule
}

// NewRuntime compiles wasm in a fresh runtime. Compiled code is cached on
// disk, keyed by the module's content and wazero's version, because compiling
// a Go module takes seconds. Under the race detector wazero's compiler is
// itself instrumented and takes minutes per module, so the interpreter, which
// runs the same module with the same semantics, is used instead.
func NewRuntime(t testing.TB, wasm []byte) *Runtime {
	t.Helper()
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig()
	if raceEnabled {
		cfg = wazero.NewRuntimeConfigInterpreter()
	} else if dir, err := os.UserCacheDir(); err == nil {
		cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, "pushagent-wasmtest"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close(ctx) })
		cfg = cfg.WithCompilationCache(cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return &Runtime{t: t, ctx: ctx, r: r, compiled: compiled}
}

// Imports lists the module's imports as "module.name", so a test can check
// that a plugin needs nothing the host does not provide.
func (r *Runtime) Imports() []string {
	var names []string
	for _, f := range r.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		names = append(names, mod+"."+name)
	}
	return names
}

// Exports lists the names of the module's exported functions.
func (r *Runtime) Exports() []string {
	var names []string
	for name := range r.compiled.ExportedFunctions() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Result is what one plugin run produced.
type Result struct {
	// Code is the collect function's result (reactor) or the exit code
	// (command); 0 is success.
	Code           uint32
	Stdout, Stderr string
}

// RunCommand runs the module's _start in a fresh instance, as the agent runs
// a command plugin. fs grants the files the run sees; nil grants none.
func (r *Runtime) RunCommand(config string, fs wazero.FSConfig) Result {
	r.t.Helper()
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous, so that instances do not clash by name
		WithStdin(strings.NewReader(config)).WithStdout(&stdout).WithStderr(&stderr).
		WithSysWalltime()
	if fs != nil {
		cfg = cfg.WithFSConfig(fs)
	}
	mod, err := r.r.InstantiateModule(r.ctx, r.compiled, cfg)
	res := Result{}
	if exitErr := (*sys.ExitError)(nil); errors.As(err, &exitErr) {
		res.Code = exitErr.ExitCode()
	} else if err != nil {
		r.t.Fatalf("running command: %v\nstderr: %s", err, stderr.String())
	}
	if mod != nil {
		mod.Close(r.ctx)
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	return res
}

// Reactor is one warm reactor instance, called again and again.
type Reactor struct {
	rt             *Runtime
	mod            api.Module
	collect        api.Function
	stdin          stdin
	stdout, stderr testenv.Logs // taken after each call
}

// NewReactor instantiates the module, running _initialize once, as the agent
// does when it adds an instance to its pool.
func (r *Runtime) NewReactor(fs wazero.FSConfig) *Reactor {
	r.t.Helper()
	re := &Reactor{rt: r}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdin(&re.stdin).WithStdout(&re.stdout).WithStderr(&re.stderr).
		WithSysWalltime().
		WithStartFunctions("_initialize")
	if fs != nil {
		cfg = cfg.WithFSConfig(fs)
	}
	mod, err := r.r.InstantiateModule(r.ctx, r.compiled, cfg)
	if err != nil {
		r.t.Fatalf("instantiating reactor: %v\nstderr: %s", err, re.stderr.Take())
	}
	re.mod = mod
	re.collect = mod.ExportedFunction("pushagent_collect")
	if re.collect == nil {
		r.t.Fatal("reactor does not export pushagent_collect")
	}
	if d := re.collect.Definition(); len(d.ParamTypes()) != 0 || len(d.ResultTypes()) != 1 || d.ResultTypes()[0] != api.ValueTypeI32 {
		r.t.Fatalf("pushagent_collect has params %v and results %v, want () -> i32", d.ParamTypes(), d.ResultTypes())
	}
	if out := re.stdout.Take(); out != "" {
		r.t.Errorf("_initialize wrote to stdout: %q", out)
	}
	return re
}

// MemoryBytes is the size of the instance's linear memory.
func (re *Reactor) MemoryBytes() uint32 { return re.mod.Memory().Size() }

// Collect calls pushagent_collect with a fresh stdin holding config. A trap
// fails the test: the SDK must turn every failure into a result.
func (re *Reactor) Collect(config string) Result {
	re.rt.t.Helper()
	re.stdin.reset(config)
	res, err := re.collect.Call(re.rt.ctx)
	stdout, stderr := re.stdout.Take(), re.stderr.Take()
	if err != nil {
		re.rt.t.Fatalf("pushagent_collect: %v\nstderr: %s", err, stderr)
	}
	return Result{Code: api.DecodeU32(res[0]), Stdout: stdout, Stderr: stderr}
}

// stdin is the host side of a reactor's stdin, refilled before each call.
type stdin struct {
	mu sync.Mutex
	r  bytes.Reader
}

func (s *stdin) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

func (s *stdin) reset(b string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.r.Reset([]byte(b))
}

// heavyPackages are what a plugin's wasm build must not link: each agent
// that loads the plugin carries every package it links, compiled, in
// memory. HTTP goes through sdk/httpcall, logs through the SDK's logger,
// exposition through the SDK's own writer and parser.
var heavyPackages = []string{"net/http", "net/url", "log/slog", "crypto", "github.com/prometheus", "google.golang.org/protobuf"}

// CheckLight fails t if the wasip1 build of the package in the current
// directory links any of heavyPackages, naming each one.
func CheckLight(t testing.TB) {
	t.Helper()
	cmd := exec.Command(testenv.RequireBinary(t, "go"), "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, heavy := range heavyPackages {
			if pkg == heavy || strings.HasPrefix(pkg, heavy+"/") {
				t.Errorf("the wasm build links %s, which every agent loading the plugin would carry; see docs/plugin-sdk.md", pkg)
			}
		}
	}
}
