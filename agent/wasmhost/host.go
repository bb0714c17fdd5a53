// Package wasmhost runs collector plugins: WASI preview 1 modules executed
// with wazero inside a sandbox.
//
// A Host owns the wazero runtimes and the compilation cache. Each plugin file
// is compiled once (per memory limit) and then run many times, either as a
// fresh instance per run (command form, exports _start) or as a call on a
// warm instance taken from a small pool (reactor form, exports _initialize
// and pushagent_collect). See docs/plugin-abi.md for the contract.
//
// This package must never give a plugin anything the collector's config did
// not grant: no files, no environment, no network, no imports beyond WASI and
// the pushagent_v1 host module.
package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/pushagent/pushagent/agent/wasmhost/internal/interrupt"
	"github.com/pushagent/pushagent/agent/wasmhost/internal/linmem"
	"github.com/pushagent/pushagent/sdk/abi"
)

// ABI names. The host module name carries the ABI version so that a plugin
// built for a future, incompatible ABI is refused at load instead of
// misbehaving at run time.
const (
	hostModule     = abi.HostModule
	collectExport  = abi.CollectExport
	initExport     = "_initialize"
	startExport    = "_start"
	wasiModuleName = wasi_snapshot_preview1.ModuleName
	// interruptGlobal is the flag the instrumentation adds to a module; a
	// watchdog sets it when the run's context ends.
	interruptGlobal = interrupt.GlobalName
	pageSize        = 65536
)

// moduleForm is the shape of a plugin module.
type moduleForm int

const (
	// Command modules export _start and get a fresh instance per run.
	commandForm moduleForm = iota + 1
	// Reactor modules export _initialize and pushagent_collect; instances
	// are kept warm and reused.
	reactorForm
)

func (f moduleForm) String() string {
	switch f {
	case commandForm:
		return "command"
	case reactorForm:
		return "reactor"
	}
	return "unknown"
}

// Options configure a Host. The zero value is usable: no on-disk cache,
// slog.Default-free discard logger.
type Options struct {
	// CacheDir holds wazero's on-disk compilation cache. Compiling a Go
	// plugin takes seconds; with the cache a restart takes a fraction of
	// that. Empty keeps the cache in memory only.
	CacheDir string
	// Logger receives host-level events (compilation). Plugin stderr goes
	// to the logger of each Request instead, so that lines carry the job
	// and collector that produced them.
	Logger *slog.Logger
	// MaxInstances bounds the reactor instances per plugin and sandbox, in
	// use and idle together; a run that finds all of them busy waits for one
	// (within its deadline) instead of creating another. Default 4, twice
	// the cores of a small machine: more instances than cores running at
	// once buy no throughput, while each Go instance costs ~8 MiB and
	// creating one costs far more CPU than a call. So memory stays bounded
	// however many collectors share the plugin, and instances are reused
	// instead of churned when many jobs fire together.
	MaxInstances int
}

// Host compiles and runs plugins. It is safe for concurrent use.
type Host struct {
	cache        wazero.CompilationCache
	logger       *slog.Logger
	maxInstances int

	transports transports // shared by http_request calls of every plugin

	now func() time.Time // the pools' clock; tests replace it

	// alloc backs instances' linear memory with address space reserved
	// once and committed as it grows, unmapped when the instance goes: no
	// copy per memory.grow, no garbage left in the Go heap (nil: wazero's
	// default, on platforms without mmap).
	alloc experimental.MemoryAllocator
	// runs counts the runs in progress; closing (closed by Close) ends
	// them. Close waits for them before closing runtimes, because closing
	// a module unmaps its memory under a call still using it.
	runs         sync.WaitGroup
	closing      context.Context
	closeRunning context.CancelFunc

	mu       sync.Mutex
	closed   bool
	runtimes map[runtimeKey]wazero.Runtime
	plugins  map[pluginKey]*loadEntry
}

// runtimeKey picks a runtime: wazero enforces memory limits per runtime,
// and whether compiled code checks for a closed module at every loop
// header is a runtime setting too.
type runtimeKey struct {
	pages uint32
	// closeOnDone is set for modules that could not be instrumented: they
	// are stopped by wazero's own (slower) check instead of the inline one.
	closeOnDone bool
}

// pluginKey identifies a compiled plugin. Size and modification time are in
// it so that a plugin file rebuilt in place is compiled anew on the next
// load (a config reload), not served stale.
// pluginKey identifies a compiled plugin: the file, as it was when loaded
// (size and modification time: a rebuilt file is another plugin), and the
// memory limit it was compiled for.
type pluginKey struct {
	path    string
	pages   uint32
	size    int64
	modTime int64
}

// fileStamp is what a pluginKey records of the file at path; zero if it
// cannot be read (then the load fails and says why).
func fileStamp(path string) (size, modTime int64) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0
	}
	return fi.Size(), fi.ModTime().UnixNano()
}

type loadEntry struct {
	done chan struct{}
	p    *Plugin
	err  error
}

// New returns a Host. Close it to release compiled code and instances.
func New(opts Options) (*Host, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w (set a writable --cache-dir, or an empty one to disable the disk cache)", opts.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	maxInstances := opts.MaxInstances
	if maxInstances <= 0 {
		maxInstances = 4
	}
	closing, closeRunning := context.WithCancel(context.Background())
	return &Host{
		closing:      closing,
		closeRunning: closeRunning,
		alloc:        linmem.New(),
		cache:        cache,
		logger:       logger,
		maxInstances: maxInstances,
		now:          time.Now,
		runtimes:     map[runtimeKey]wazero.Runtime{},
		plugins:      map[pluginKey]*loadEntry{},
	}, nil
}

// runtime returns the runtime for a memory limit and termination check.
// Collectors with different limits live in different runtimes; they share
// the compilation cache, so compiled code is shared too.
func (h *Host) runtime(ctx context.Context, key runtimeKey) (wazero.Runtime, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if r, ok := h.runtimes[key]; ok {
		return r, nil
	}
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(h.cache).
		WithMemoryLimitPages(key.pages).
		// Instrumented modules check their interrupt flag inline, so they
		// run without wazero's exit to Go at every loop header (6-9x on
		// Go-compiled code). Modules the instrumentation refused keep
		// that check: a deadline must stop a runaway plugin either way.
		WithCloseOnContextDone(key.closeOnDone)
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, r); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("instantiate %s: %w", hostModule, err)
	}
	h.runtimes[key] = r
	return r, nil
}

// memoryPages converts a memory limit in bytes to wasm pages, rounding down and
// never below one page.
func memoryPages(limit uint64) uint32 {
	p := limit / pageSize
	if p < 1 {
		p = 1
	}
	if p > 65536 {
		p = 65536
	}
	return uint32(p)
}

// Load compiles the plugin at path for the given memory limit, once: later
// calls, including concurrent ones, return the same Plugin.
func (h *Host) Load(ctx context.Context, path string, memoryLimit uint64) (*Plugin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	key := pluginKey{path: abs, pages: memoryPages(memoryLimit)}
	key.size, key.modTime = fileStamp(abs)
	h.mu.Lock()
	if e, ok := h.plugins[key]; ok {
		h.mu.Unlock()
		select {
		case <-e.done:
			return e.p, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e := &loadEntry{done: make(chan struct{})}
	h.plugins[key] = e
	h.mu.Unlock()

	e.p, e.err = h.compile(ctx, key)
	if e.err != nil {
		// A failed load is not cached: the file may be fixed before the
		// next attempt (for example on a config reload).
		h.mu.Lock()
		delete(h.plugins, key)
		h.mu.Unlock()
	}
	close(e.done)
	return e.p, e.err
}

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

func (h *Host) compile(ctx context.Context, key pluginKey) (*Plugin, error) {
	name := filepath.Base(key.path)
	wrap := func(err error) error { return fmt.Errorf("plugin %s: %w", key.path, err) }
	bin, err := os.ReadFile(key.path)
	if err != nil {
		return nil, wrap(err)
	}
	if !bytes.HasPrefix(bin, wasmMagic) {
		return nil, wrap(errors.New("not a WebAssembly module (missing the \\0asm header); build it with a WASI target, e.g. GOOS=wasip1 GOARCH=wasm"))
	}
	start := time.Now()
	guarded := true
	inst, iface, err := interrupt.InstrumentInterface(bin)
	switch {
	case err == nil:
		bin = inst
	case errors.Is(err, interrupt.ErrUnsupported):
		// Still stoppable, by wazero's own check: slower, never unsafe.
		guarded = false
		h.logger.Warn("plugin runs with the slower deadline check: it uses WebAssembly the instrumentation does not handle",
			"plugin", key.path, "reason", err)
	default:
		return nil, wrap(err)
	}
	r, err := h.runtime(ctx, runtimeKey{pages: key.pages, closeOnDone: !guarded})
	if err != nil {
		return nil, wrap(err)
	}
	cm, err := compileModule(ctx, r, bin)
	if err != nil {
		return nil, wrap(explainCompile(err))
	}
	took := time.Since(start)
	if iface == nil {
		iface = interfaceOf(cm)
	}
	form, err := checkModule(r, cm, iface)
	if err != nil {
		_ = cm.Close(ctx)
		return nil, wrap(err)
	}
	h.logger.Debug("plugin compiled", "plugin", key.path, "form", form.String(), "duration", took, "memory_limit_pages", key.pages)
	return &Plugin{
		host:        h,
		key:         key,
		name:        name,
		path:        key.path,
		rt:          r,
		compiled:    cm,
		form:        form,
		guarded:     guarded,
		pages:       key.pages,
		CompileTime: took,
		pools:       map[string]*pool{},
	}, nil
}

// compileModule is Runtime.CompileModule made safe for untrusted bytes:
// wazero v1.12 panics on some malformed modules (a call through an
// out-of-range type index) instead of returning an error.
func compileModule(ctx context.Context, r wazero.Runtime, bin []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			cm, err = nil, fmt.Errorf("invalid module (the compiler gave up: %v)", p)
		}
	}()
	return r.CompileModule(ctx, bin)
}

// memoryOverLimit matches wazero's refusal of a module whose declared
// minimum memory exceeds the runtime's limit.
var memoryOverLimit = regexp.MustCompile(`min (\d+) pages \([^)]*\) over limit of (\d+) pages`)

// explainCompile turns a compile error into what a user can act on: a
// memory minimum over the limit names memory_limit and the value needed.
func explainCompile(err error) error {
	m := memoryOverLimit.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("compile: %w", err)
	}
	need, _ := strconv.ParseUint(m[1], 10, 32)
	have, _ := strconv.ParseUint(m[2], 10, 32)
	// memory_limit is rounded down to whole pages; a whole MiB is what a
	// user writes.
	needMiB := (need*pageSize + 1<<20 - 1) >> 20
	return fmt.Errorf("its memory needs at least %s (%d pages) at start, more than the collector's memory_limit of %s: set memory_limit to %dMiB or more (compile: %w)",
		formatBytes(need*pageSize), need, formatBytes(have*pageSize), needMiB, err)
}

// interfaceOf asks wazero what cm imports and exports, for a module the
// instrumentation refused (and so did not read to the end). wazero builds
// a definition of every function of the module for it and keeps them as
// long as the module, which is why instrumented modules are checked from
// what the instrumentation read instead.
func interfaceOf(cm wazero.CompiledModule) *interrupt.Interface {
	sig := func(d api.FunctionDefinition) interrupt.Signature {
		return interrupt.Signature{Params: d.ParamTypes(), Results: d.ResultTypes()}
	}
	iface := &interrupt.Interface{FuncExports: map[string]interrupt.Signature{}}
	for _, imp := range cm.ImportedFunctions() {
		mod, fn, _ := imp.Import()
		iface.FuncImports = append(iface.FuncImports, interrupt.FuncImport{Module: mod, Name: fn, Type: sig(imp)})
	}
	for name, d := range cm.ExportedFunctions() {
		iface.FuncExports[name] = sig(d)
	}
	return iface
}

// checkModule refuses modules the host cannot serve, with the reason, so a
// user learns it at load rather than from a failed run: every imported
// function must exist in WASI or pushagent_v1 with the same signature.
// iface is what cm imports and exports.
func checkModule(r wazero.Runtime, cm wazero.CompiledModule, iface *interrupt.Interface) (moduleForm, error) {
	var missing, mismatched []string
	for _, imp := range iface.FuncImports {
		mod, fn := imp.Module, imp.Name
		var have api.FunctionDefinition
		if mod == wasiModuleName || mod == hostModule {
			if m := r.Module(mod); m != nil {
				have = m.ExportedFunctionDefinitions()[fn]
			}
		}
		switch {
		case have == nil:
			missing = append(missing, mod+"."+fn)
		case !slices.Equal(have.ParamTypes(), imp.Type.Params) || !slices.Equal(have.ResultTypes(), imp.Type.Results):
			mismatched = append(mismatched, fmt.Sprintf("%s.%s as %s (the host has %s)", mod, fn, signature(imp.Type.Params, imp.Type.Results), signature(have.ParamTypes(), have.ResultTypes())))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return 0, fmt.Errorf("imports %s, which the host does not provide (available: WASI preview 1 %q and %s functions %s)",
			strings.Join(missing, ", "), wasiModuleName, hostModule, strings.Join(hostFunctionNames(), ", "))
	}
	if len(mismatched) > 0 {
		sort.Strings(mismatched)
		return 0, fmt.Errorf("imports %s: wrong signature; see docs/plugin-abi.md", strings.Join(mismatched, ", "))
	}
	if mems := cm.ImportedMemories(); len(mems) > 0 {
		mod, name, _ := mems[0].Import()
		return 0, fmt.Errorf("imports memory %s.%s; a plugin must define and export its own memory", mod, name)
	}
	exports := iface.FuncExports
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return 0, errors.New(`does not export its memory as "memory", as WASI requires`)
	}
	_, hasStart := exports[startExport]
	_, hasInit := exports[initExport]
	fn, hasCollect := exports[collectExport]
	// A module with _start but no _initialize is a command even if it also
	// exports pushagent_collect: that is what a Go SDK plugin built without
	// -buildmode=c-shared looks like, and calling its collect function
	// before its runtime started would trap.
	if hasStart && !hasInit {
		return commandForm, nil
	}
	if hasCollect {
		if len(fn.Params) != 0 || len(fn.Results) != 1 || fn.Results[0] != api.ValueTypeI32 {
			return 0, fmt.Errorf("exports %s with the wrong signature; ABI v1 wants () -> i32", collectExport)
		}
		return reactorForm, nil
	}
	if hasStart {
		return commandForm, nil
	}
	return 0, fmt.Errorf("exports neither %s (reactor) nor %s (command); see docs/plugin-abi.md", collectExport, startExport)
}

func signature(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		parts := make([]string, len(ts))
		for i, t := range ts {
			parts[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return name(params) + " -> " + name(results)
}

// enter registers a run; it reports false once the host is closing.
func (h *Host) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.runs.Add(1)
	return true
}

// ErrClosed is returned (wrapped) by runs started after Close.
var ErrClosed = errors.New("wasmhost: host is closed")

// Close ends the runs in progress, waits for them (until ctx ends), then
// releases every instance and compiled module. If ctx ends first, the
// runtimes are left open: closing them under a running plugin would unmap
// memory it is using.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var plugins []*Plugin
	for _, e := range h.plugins {
		select {
		case <-e.done:
			if e.p != nil {
				plugins = append(plugins, e.p)
			}
		default:
		}
	}
	runtimes := h.runtimes
	h.mu.Unlock()
	h.closeRunning()
	drained := make(chan struct{})
	go func() {
		h.runs.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		return fmt.Errorf("wasmhost: runs still in progress at close, runtimes left open: %w", ctx.Err())
	}
	h.transports.closeIdle()
	for _, p := range plugins {
		p.closePools(ctx)
	}
	var errs []error
	for _, r := range runtimes {
		errs = append(errs, r.Close(ctx))
	}
	errs = append(errs, h.cache.Close(ctx))
	return errors.Join(errs...)
}
