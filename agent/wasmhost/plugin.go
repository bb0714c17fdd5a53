package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pushagent/pushagent/agent/config"
)

// Plugin is a compiled module, ready to run. It is safe for concurrent use.
type Plugin struct {
	host     *Host
	key      pluginKey
	name     string
	path     string
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	form     moduleForm
	pages    uint32
	// guarded says the module was instrumented with an inline interrupt
	// check and runs without wazero's close-on-context-done.
	guarded bool

	// CompileTime is how long loading took: instrumenting and compiling
	// (short when the code came from the compilation cache).
	CompileTime time.Duration

	mu      sync.Mutex
	pools   map[string]*pool
	created atomic.Int64 // instances ever created (reactor and command)
}

// Path is the plugin file's absolute path.
func (p *Plugin) Path() string { return p.path }

// Changed reports whether the file at Path is no longer the one loaded: it
// was rebuilt (another size or modification time) or removed. Loading it
// again compiles the new file.
func (p *Plugin) Changed() bool {
	size, modTime := fileStamp(p.path)
	return size != p.key.size || modTime != p.key.modTime
}

// Sandbox is what a run is granted. The zero value grants nothing: no
// files, no environment variables.
type Sandbox struct {
	// Mounts maps guest paths to host directories, mounted read-only.
	Mounts map[string]string
	// Env holds the environment variables the plugin sees, and only those.
	Env map[string]string
}

// key identifies sandbox settings for pooling: warm instances are shared
// only between collectors granted exactly the same things.
func (s Sandbox) key() string {
	var b strings.Builder
	for _, k := range sortedKeys(s.Mounts) {
		fmt.Fprintf(&b, "m%q=%q;", k, s.Mounts[k])
	}
	for _, k := range sortedKeys(s.Env) {
		fmt.Fprintf(&b, "e%q=%q;", k, s.Env[k])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Request is one collection run.
type Request struct {
	// Config is handed to the plugin on stdin (JSON by convention).
	Config []byte
	// Sandbox is what the plugin may see.
	Sandbox Sandbox
	// MaxOutput bounds what the plugin may write to stdout. A plugin that
	// writes more fails the run and is stopped, so a flood cannot exhaust
	// the agent's memory. Default 1 MiB.
	MaxOutput int64
	// Logger receives the plugin's stderr lines and host log calls; the
	// caller tags it with job and collector. Nil discards them.
	Logger *slog.Logger
	// HTTP is what the http_request host call may reach in this run. It
	// is enforced per call, not per instance, so warm instances are shared
	// across collectors with different allow-lists.
	HTTP HTTPGrant
}

const (
	// maxStderr bounds what one run may log; the rest is counted and
	// dropped so that a chatty plugin cannot flood the agent's log.
	maxStderr      = 16 << 10
	maxStderrLines = 100
)

// ErrOutputTooLarge is returned (wrapped) when a plugin writes more than
// Request.MaxOutput bytes to stdout.
var ErrOutputTooLarge = errors.New("wasmhost: output exceeds max_output")

// Kinds of run failure, for errors.Is: the agent counts failures by kind.
var (
	ErrTimeout     = errors.New("wasmhost: timed out")
	ErrTrap        = errors.New("wasmhost: trapped")
	ErrExit        = errors.New("wasmhost: the plugin reported failure")
	ErrOutOfMemory = errors.New("wasmhost: the plugin ran out of memory")
)

// Run executes one collection and returns what the plugin wrote to stdout.
// The run ends at ctx's deadline: the instance is closed and an error
// returned. A failed run returns no output.
func (p *Plugin) Run(ctx context.Context, req Request) ([]byte, error) {
	if req.MaxOutput <= 0 {
		// A request built in code rather than from a loaded config.
		req.MaxOutput = config.DefaultMaxOutput
	}
	logger := req.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !p.host.enter() {
		return nil, fmt.Errorf("plugin %s: %w", p.path, ErrClosed)
	}
	defer p.host.runs.Done()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(p.host.closing, func() { cancel(ErrClosed) })()
	st := &runState{logger: logger, http: req.HTTP.withDefaults(), transports: &p.host.transports}
	ctx = withRunState(ctx, st)

	stdout := &limitWriter{max: req.MaxOutput, onOverflow: func() { cancel(ErrOutputTooLarge) }}
	stderr := &lineLogger{logger: logger, max: maxStderr}
	st.lines = stderr
	var (
		err     error
		memUsed uint32 // linear memory at the end of the run, in bytes
	)
	switch p.form {
	case commandForm:
		memUsed, err = p.runCommand(ctx, req, stdout, stderr)
	case reactorForm:
		memUsed, err = p.runReactor(ctx, req, stdout, stderr)
	}
	stderr.flush()
	if stdout.overflow {
		err = fmt.Errorf("%w (%d bytes); raise max_output or make the plugin write less", ErrOutputTooLarge, req.MaxOutput)
	}
	if err != nil {
		err = p.explain(ctx, err)
		// The plugin's own words are the reason a user needs: without them
		// the error says only that it failed, and the reason hides in a
		// separate log record.
		reason := stderr.reason()
		carried := reason != "" && (errors.Is(err, ErrExit) || errors.Is(err, ErrTrap))
		if carried {
			err = fmt.Errorf("%w: %s", err, reason)
		}
		stderr.release(carried)
		if stderr.noMount || outsideMounts(err.Error()) {
			err = fmt.Errorf("%w (%s)", err, mountHint(req.Sandbox.Mounts))
		}
		// A refused memory.grow is not a trap: the plugin fails its own way
		// (a trap, Go's "out of memory" and exit 2). Say what happened when
		// its memory ended at the limit or it said so itself.
		limit := uint64(p.pages) * pageSize
		if uint64(memUsed)+pageSize >= limit || stderr.sawOOM {
			err = fmt.Errorf("%w (%w: its memory_limit is %s; raise memory_limit)", err, ErrOutOfMemory, formatBytes(limit))
		}
		// The full path, as the agent's other messages about the plugin
		// give it.
		return nil, fmt.Errorf("plugin %s: %w", p.path, err)
	}
	stderr.release(false)
	return stdout.buf.Bytes(), nil
}

// explain turns wazero's errors into what a user can act on.
func (p *Plugin) explain(ctx context.Context, err error) error {
	if errors.Is(err, errInterrupted) {
		switch cause := context.Cause(ctx); {
		case cause == context.DeadlineExceeded:
			return fmt.Errorf("%w: %w (raise the collector's timeout if the plugin needs longer)", ErrTimeout, context.DeadlineExceeded)
		case errors.Is(cause, context.DeadlineExceeded):
			// The caller's deadline, with its reason.
			return fmt.Errorf("%w: %w", ErrTimeout, cause)
		case cause != nil && !errors.Is(cause, context.Canceled):
			return cause
		default:
			return fmt.Errorf("stopped: %w", context.Canceled)
		}
	}
	// wazero reports a trap as "module[] function[_start] failed: wasm
	// error: unreachable" followed by a stack trace; keep the cause line.
	msg := err.Error()
	if i := strings.Index(msg, "wasm error: "); i >= 0 {
		line, _, _ := strings.Cut(msg[i:], "\n")
		return fmt.Errorf("%w: %s", ErrTrap, line)
	}
	return err
}

// mountHint says what a path the runtime could not open means: the
// plugin asked for a path that none of its collector's mounts grants.
func mountHint(m map[string]string) string {
	if len(m) == 0 {
		return "the plugin opened a path, and its collector has no mounts: grant a host directory with mounts: {/guest/path: /host/dir} and name the guest path in the plugin's config"
	}
	return fmt.Sprintf("the plugin opened a path outside its collector's mounts, which grant only %s: add the directory to mounts or use a path under one of them", strings.Join(sortedKeys(m), ", "))
}

func formatBytes(n uint64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

func (p *Plugin) moduleConfig(req Request, sl *sleeper) wazero.ModuleConfig {
	// Real clocks: collectors measure durations and stamp files. Sleeps
	// (WASI poll_oneoff with a clock, which C's sleep and Go's time.Sleep
	// become) end early when the run ends, so a sleeping plugin cannot
	// outlive its deadline. No start functions: the host calls _start or
	// _initialize itself, once the run's interrupt is armed. The random
	// source is the OS's, so guest hash seeds are not predictable.
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs(p.name).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(sl.sleep).
		WithStartFunctions().
		WithRandSource(rand.Reader)
	for _, k := range sortedKeys(req.Sandbox.Env) {
		cfg = cfg.WithEnv(k, req.Sandbox.Env[k])
	}
	return cfg
}

// mounts opens the granted directories. Each is exposed through a mountFS
// (mountfs.go): an os.Root, which refuses any path that resolves outside
// the directory, so a symlink planted in a mounted directory cannot reach
// the rest of the host, and which as an fs.FS has no write operations, so
// the mount is read-only; and no per-process entry of a procfs met on the
// way. The returned closer releases the directory handles once the
// instance is gone.
func mounts(cfg wazero.ModuleConfig, s Sandbox) (wazero.ModuleConfig, func(), error) {
	if len(s.Mounts) == 0 {
		return cfg, func() {}, nil
	}
	fsc := wazero.NewFSConfig()
	var roots []*mountFS
	closeAll := func() {
		for _, r := range roots {
			_ = r.Close()
		}
	}
	for _, guest := range sortedKeys(s.Mounts) {
		root, err := newMountFS(s.Mounts[guest])
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("mount %s: %w", guest, err)
		}
		roots = append(roots, root)
		fsc = fsc.WithFSMount(root, guest)
	}
	return cfg.WithFSConfig(fsc), closeAll, nil
}

func (p *Plugin) runCommand(ctx context.Context, req Request, stdout, stderr io.Writer) (uint32, error) {
	sl := &sleeper{}
	sl.set(ctx.Done())
	cfg, release, err := mounts(p.moduleConfig(req, sl), req.Sandbox)
	if err != nil {
		return 0, err
	}
	defer release()
	cfg = cfg.
		WithStdin(bytes.NewReader(req.Config)).
		WithStdout(stdout).
		WithStderr(stderr)
	p.created.Add(1)
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, p.host.alloc), p.compiled, cfg)
	if err != nil {
		if mod != nil {
			_ = mod.Close(context.WithoutCancel(ctx))
		}
		return 0, err
	}
	defer mod.Close(context.WithoutCancel(ctx))
	_, _, err = p.call(ctx, mod, mod.ExportedFunction(startExport))
	var mem uint32
	if m := mod.Memory(); m != nil {
		mem = m.Size()
	}
	if err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 0 {
			return mem, nil // proc_exit(0) is how a C or Rust command ends
		}
		if errors.As(err, &exit) && exit.ExitCode() < sys.ExitCodeDeadlineExceeded && ctx.Err() == nil {
			return mem, fmt.Errorf("exited with code %d: %w", exit.ExitCode(), ErrExit)
		}
		return mem, err
	}
	return mem, nil
}

// errInterrupted is what a call returns when the run's context ended while
// the guest ran: Run turns it into the context's cause (a timeout, the
// output limit, a shutdown).
var errInterrupted = errors.New("wasmhost: interrupted")

// call runs fn, an export of mod, within ctx. An instrumented module traps
// at its next function entry or loop header once the watchdog sets its
// interrupt flag, which happens when ctx ends; a module that could not be
// instrumented runs in a runtime whose close-on-context-done check does
// the same, at a higher cost per loop. Either way the failure is reported
// as errInterrupted. dirty says the instance must not be reused: the call
// failed, or the flag went up (perhaps just as the call returned).
func (p *Plugin) call(ctx context.Context, mod api.Module, fn api.Function) (res []uint64, dirty bool, err error) {
	stop := func() bool { return true }
	if p.guarded {
		flag, ok := mod.ExportedGlobal(interruptGlobal).(api.MutableGlobal)
		if !ok {
			return nil, true, fmt.Errorf("wasmhost: instrumented module lacks its %s global", interruptGlobal)
		}
		stop = context.AfterFunc(ctx, func() { flag.Set(1) })
	}
	res, err = fn.Call(ctx)
	fired := !stop()
	if fired || ctx.Err() != nil {
		// The run ended before the call returned: whatever the guest did
		// after its deadline (a sleep cut short, then output and exit 0)
		// is not a result.
		return nil, true, errInterrupted
	}
	return res, err != nil, err
}

// sleeper is the WASI nanosleep of one instance: it sleeps at most until
// the run it serves ends. wazero's own sleep (time.Sleep) ignores the
// context, so a plugin calling sleep(120) would hold its run, its job and
// a shutdown for two minutes whatever its timeout.
type sleeper struct {
	mu   sync.Mutex
	done <-chan struct{}
}

// set makes later sleeps end when done is closed; nil means only the
// timer ends them (no run is in progress).
func (s *sleeper) set(done <-chan struct{}) {
	s.mu.Lock()
	s.done = done
	s.mu.Unlock()
}

func (s *sleeper) sleep(ns int64) {
	if ns <= 0 {
		return
	}
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	t := time.NewTimer(time.Duration(ns))
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// instance is a warm reactor instance. Its stdio are swappable so that each
// call gets its own stdin and output buffers.
type instance struct {
	mod     api.Module
	release func() // closes the instance's mounts
	collect api.Function
	sleep   sleeper
	stdin   swapReader
	stdout  swapWriter
	stderr  swapWriter
}

func (in *instance) close(ctx context.Context) {
	_ = in.mod.Close(ctx)
	in.release()
}

type pool struct {
	mu   sync.Mutex
	idle []*instance
	// slots holds one token per instance in use: acquiring one before
	// taking or creating an instance bounds the instances of the pool.
	slots chan struct{}
	// inUse counts the calls in progress; peak is the most at once in the
	// current window, prevPeak in the one before. The pool keeps no more
	// instances than the larger of the two: an agent whose jobs never
	// overlap keeps one warm instance per pool, not maxInstances.
	inUse          int
	peak, prevPeak int
	window         time.Time // when the current window began
}

// poolWindow is how long a burst of concurrent runs keeps its instances
// warm: long enough to span a few runs of a job every 10 or 15 s, so that
// instances are not churned between them.
const poolWindow = time.Minute

// roll starts a new window when the current one is over. A pool unused
// for two windows forgets its peaks.
func (pl *pool) roll(now time.Time) {
	switch elapsed := now.Sub(pl.window); {
	case elapsed < poolWindow:
		return
	case elapsed < 2*poolWindow:
		pl.prevPeak = pl.peak
	default:
		pl.prevPeak = 0
	}
	pl.peak, pl.window = pl.inUse, now
}

// take marks a call as started and returns an idle instance, or nil.
func (pl *pool) take(now time.Time) *instance {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.roll(now)
	pl.inUse++
	pl.peak = max(pl.peak, pl.inUse)
	n := len(pl.idle)
	if n == 0 {
		return nil
	}
	in := pl.idle[n-1]
	pl.idle = pl.idle[:n-1]
	return in
}

// give marks a call as done and keeps in (nil for a discarded instance)
// if the pool needs it. It returns the instances to close: in if it is not
// kept, and idle ones beyond what recent concurrency needs.
func (pl *pool) give(now time.Time, in *instance) (closing []*instance) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.inUse--
	pl.roll(now)
	if in != nil {
		pl.idle = append(pl.idle, in)
	}
	// The oldest idle instances go first: the newest were used last and
	// are the warmest.
	for len(pl.idle) > 0 && len(pl.idle)+pl.inUse > max(pl.peak, pl.prevPeak, 1) {
		closing = append(closing, pl.idle[0])
		pl.idle = pl.idle[1:]
	}
	return closing
}

func (p *Plugin) pool(key string) *pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, ok := p.pools[key]
	if !ok {
		pl = &pool{slots: make(chan struct{}, p.host.maxInstances), window: p.host.now()}
		p.pools[key] = pl
	}
	return pl
}

// Created is the number of instances ever created: one per run for a
// command, rare for a reactor whose pool keeps up.
func (p *Plugin) Created() int64 { return p.created.Load() }

// Pages is the plugin's memory limit in wasm pages.
func (p *Plugin) Pages() uint32 { return p.pages }

// Warm reports the idle reactor instances and the wasm pages they hold.
func (p *Plugin) Warm() (instances int, pages uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.pools {
		pl.mu.Lock()
		for _, in := range pl.idle {
			instances++
			pages += uint64(in.mod.Memory().Size()) / pageSize
		}
		pl.mu.Unlock()
	}
	return instances, pages
}

func (p *Plugin) closePools(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pl := range p.pools {
		pl.mu.Lock()
		for _, in := range pl.idle {
			in.close(ctx)
		}
		pl.idle = nil
		pl.mu.Unlock()
	}
}

func (p *Plugin) runReactor(ctx context.Context, req Request, stdout, stderr io.Writer) (uint32, error) {
	pl := p.pool(req.Sandbox.key())
	select {
	case pl.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for a free instance (%d in use): %w", cap(pl.slots), ctx.Err())
	}
	defer func() { <-pl.slots }()
	in := pl.take(p.host.now())
	if in == nil {
		// The new instance writes its init output to this run's streams.
		var err error
		in, err = p.newInstance(ctx, req, stdout, stderr)
		if err != nil {
			for _, c := range pl.give(p.host.now(), nil) {
				c.close(context.WithoutCancel(ctx))
			}
			return 0, err
		}
	}
	in.stdin.set(bytes.NewReader(req.Config))
	in.stdout.set(stdout)
	in.stderr.set(stderr)
	in.sleep.set(ctx.Done())
	res, dirty, err := p.call(ctx, in.mod, in.collect)
	in.sleep.set(nil)
	in.stdin.set(nil)
	in.stdout.set(nil)
	in.stderr.set(nil)

	mem := in.mod.Memory().Size()
	var closing []*instance
	if dirty || uint64(mem)+pageSize > uint64(p.pages)*pageSize {
		// A trap, a timeout or a full memory leaves the instance in an
		// unknown state: never reuse it.
		closing = append(pl.give(p.host.now(), nil), in)
	} else {
		closing = pl.give(p.host.now(), in)
	}
	for _, c := range closing {
		c.close(context.WithoutCancel(ctx))
	}
	if err != nil {
		return mem, err
	}
	if code := uint32(res[0]); code != 0 {
		return mem, fmt.Errorf("%s returned %d: %w", collectExport, code, ErrExit)
	}
	return mem, nil
}

// newInstance instantiates a reactor and runs its _initialize under the
// run's deadline, interrupt armed.
func (p *Plugin) newInstance(ctx context.Context, req Request, stdout, stderr io.Writer) (*instance, error) {
	in := &instance{}
	in.stdin.set(bytes.NewReader(nil))
	in.stdout.set(stdout)
	in.stderr.set(stderr)
	in.sleep.set(ctx.Done())
	defer in.sleep.set(nil)
	cfg, release, err := mounts(p.moduleConfig(req, &in.sleep), req.Sandbox)
	if err != nil {
		return nil, err
	}
	cfg = cfg.
		WithStdin(&in.stdin).
		WithStdout(&in.stdout).
		WithStderr(&in.stderr)
	p.created.Add(1)
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, p.host.alloc), p.compiled, cfg)
	if err == nil {
		if init := mod.ExportedFunction(initExport); init != nil {
			var dirty bool
			if _, dirty, err = p.call(ctx, mod, init); err == nil && dirty {
				err = errInterrupted // the flag is up: the first call would trap
			}
		}
	}
	if err != nil {
		if mod != nil {
			_ = mod.Close(context.WithoutCancel(ctx))
		}
		release()
		return nil, fmt.Errorf("%s: %w", initExport, err)
	}
	in.mod, in.release = mod, release
	in.collect = mod.ExportedFunction(collectExport)
	return in, nil
}

// swapReader is an io.Reader whose source is replaced for every call.
type swapReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (s *swapReader) set(r io.Reader) {
	s.mu.Lock()
	s.r = r
	s.mu.Unlock()
}

func (s *swapReader) Read(b []byte) (int, error) {
	s.mu.Lock()
	r := s.r
	s.mu.Unlock()
	if r == nil {
		return 0, io.EOF
	}
	return r.Read(b)
}

// swapWriter is an io.Writer whose destination is replaced for every call;
// between calls writes are discarded.
type swapWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *swapWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *swapWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	if w == nil {
		return len(b), nil
	}
	return w.Write(b)
}

// limitWriter buffers stdout up to max bytes. Past that it fails the write
// and calls onOverflow, which cancels the run: a plugin stuck printing must
// not keep a core busy until its deadline.
type limitWriter struct {
	buf        bytes.Buffer
	max        int64
	overflow   bool
	onOverflow func()
}

func (w *limitWriter) Write(b []byte) (int, error) {
	if w.overflow {
		return 0, ErrOutputTooLarge
	}
	if int64(w.buf.Len())+int64(len(b)) > w.max {
		w.overflow = true
		w.onOverflow()
		return 0, ErrOutputTooLarge
	}
	return w.buf.Write(b)
}
