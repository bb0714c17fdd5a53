package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// Plugin is a compiled module, ready to run. It is safe for concurrent use.
type Plugin struct {
	host     *Host
	name     string
	path     string
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	form     Form
	pages    uint32

	// CompileTime is how long compilation took (short when it came from
	// the compilation cache).
	CompileTime time.Duration

	mu      sync.Mutex
	pools   map[string]*pool
	created atomic.Int64 // instances ever created (reactor and command)
}

// Form reports whether the plugin is a command or a reactor.
func (p *Plugin) Form() Form { return p.form }

// Path is the plugin file's absolute path.
func (p *Plugin) Path() string { return p.path }

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
	defaultMaxOutput = 1 << 20
	// maxStderr bounds what one run may log; the rest is counted and
	// dropped so that a chatty plugin cannot flood the agent's log.
	maxStderr      = 16 << 10
	maxStderrLines = 100
)

// ErrOutputTooLarge is returned (wrapped) when a plugin writes more than
// Request.MaxOutput bytes to stdout.
var ErrOutputTooLarge = errors.New("output exceeds max_output")

// Kinds of run failure, for errors.Is: the agent counts failures by kind.
var (
	ErrTimeout     = errors.New("timed out")
	ErrTrap        = errors.New("trapped")
	ErrExit        = errors.New("failed")
	ErrOutOfMemory = errors.New("ran out of memory")
)

// Run executes one collection and returns what the plugin wrote to stdout.
// The run ends at ctx's deadline: the instance is closed and an error
// returned. A failed run returns no output.
func (p *Plugin) Run(ctx context.Context, req Request) ([]byte, error) {
	if req.MaxOutput <= 0 {
		req.MaxOutput = defaultMaxOutput
	}
	logger := req.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st := &runState{logger: logger, http: req.HTTP.withDefaults(), transports: &p.host.transports}
	ctx = withRunState(ctx, st)

	stdout := &limitWriter{max: req.MaxOutput, onOverflow: func() { cancel(ErrOutputTooLarge) }}
	stderr := &lineLogger{logger: logger, max: maxStderr}
	var (
		err     error
		memUsed uint32 // linear memory at the end of the run, in bytes
	)
	switch p.form {
	case Command:
		memUsed, err = p.runCommand(ctx, req, stdout, stderr)
	case Reactor:
		memUsed, err = p.runReactor(ctx, req, stdout, stderr)
	}
	stderr.flush()
	if stdout.overflow {
		err = fmt.Errorf("%w (%d bytes); raise max_output or make the plugin write less", ErrOutputTooLarge, req.MaxOutput)
	}
	if err != nil {
		err = p.explain(ctx, err)
		// A refused memory.grow is not a trap: the plugin fails its own way
		// (a trap, Go's "out of memory" and exit 2). Say what happened when
		// its memory ended at the limit or it said so itself.
		limit := uint64(p.pages) * pageSize
		if uint64(memUsed)+pageSize >= limit || stderr.sawOOM {
			err = fmt.Errorf("%w (the plugin %w: its memory_limit is %s; raise memory_limit)", err, ErrOutOfMemory, formatBytes(limit))
		}
		return nil, fmt.Errorf("plugin %s: %w", p.name, err)
	}
	return stdout.buf.Bytes(), nil
}

// explain turns wazero's errors into what a user can act on.
func (p *Plugin) explain(ctx context.Context, err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("%w: %w (raise the collector's timeout if the plugin needs longer)", ErrTimeout, context.DeadlineExceeded)
		case sys.ExitCodeContextCanceled:
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
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

func formatBytes(n uint64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

func (p *Plugin) moduleConfig(req Request) wazero.ModuleConfig {
	// Real clocks: collectors measure durations and stamp files. The
	// random source is the OS's, so guest hash seeds are not predictable.
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs(p.name).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader)
	for _, k := range sortedKeys(req.Sandbox.Env) {
		cfg = cfg.WithEnv(k, req.Sandbox.Env[k])
	}
	return cfg
}

// mounts opens the granted directories. Each is exposed through os.Root,
// which refuses any path that resolves outside the directory, so a symlink
// planted in a mounted directory cannot reach the rest of the host; and as
// an fs.FS it has no write operations, so the mount is read-only. The
// returned closer releases the directory handles once the instance is
// gone.
func mounts(cfg wazero.ModuleConfig, s Sandbox) (wazero.ModuleConfig, func(), error) {
	if len(s.Mounts) == 0 {
		return cfg, func() {}, nil
	}
	fsc := wazero.NewFSConfig()
	var roots []*os.Root
	closeAll := func() {
		for _, r := range roots {
			_ = r.Close()
		}
	}
	for _, guest := range sortedKeys(s.Mounts) {
		root, err := os.OpenRoot(s.Mounts[guest])
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("mount %s: %w", guest, err)
		}
		roots = append(roots, root)
		fsc = fsc.WithFSMount(root.FS(), guest)
	}
	return cfg.WithFSConfig(fsc), closeAll, nil
}

func (p *Plugin) runCommand(ctx context.Context, req Request, stdout, stderr io.Writer) (uint32, error) {
	cfg, release, err := mounts(p.moduleConfig(req), req.Sandbox)
	if err != nil {
		return 0, err
	}
	defer release()
	cfg = cfg.
		WithStdin(bytes.NewReader(req.Config)).
		WithStdout(stdout).
		WithStderr(stderr)
	p.created.Add(1)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, cfg)
	var mem uint32
	if mod != nil {
		if m := mod.Memory(); m != nil {
			mem = m.Size()
		}
		_ = mod.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) && exit.ExitCode() < sys.ExitCodeDeadlineExceeded {
			return mem, fmt.Errorf("exited with code %d: %w", exit.ExitCode(), ErrExit)
		}
		return mem, err
	}
	return mem, nil
}

// instance is a warm reactor instance. Its stdio are swappable so that each
// call gets its own stdin and output buffers.
type instance struct {
	mod     api.Module
	release func() // closes the instance's mounts
	collect api.Function
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
}

func (p *Plugin) pool(key string) *pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	pl, ok := p.pools[key]
	if !ok {
		pl = &pool{slots: make(chan struct{}, p.host.maxInstances)}
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

// IdleInstances reports how many warm instances are pooled, for the
// agent's own metrics and for tests that check memory stays bounded.
func (p *Plugin) IdleInstances() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pl := range p.pools {
		pl.mu.Lock()
		n += len(pl.idle)
		pl.mu.Unlock()
	}
	return n
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
	pl.mu.Lock()
	var in *instance
	if n := len(pl.idle); n > 0 {
		in = pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
	}
	pl.mu.Unlock()

	if in == nil {
		// The new instance writes its init output to this run's streams.
		var err error
		in, err = p.newInstanceWith(ctx, req, stdout, stderr)
		if err != nil {
			return 0, err
		}
	}
	in.stdin.set(bytes.NewReader(req.Config))
	in.stdout.set(stdout)
	in.stderr.set(stderr)
	res, err := in.collect.Call(ctx)
	in.stdin.set(nil)
	in.stdout.set(nil)
	in.stderr.set(nil)

	mem := in.mod.Memory().Size()
	healthy := err == nil && ctx.Err() == nil && uint64(mem)+pageSize <= uint64(p.pages)*pageSize
	if healthy {
		// No cap needed here: the pool's slots already bound its
		// instances, idle ones included.
		pl.mu.Lock()
		pl.idle = append(pl.idle, in)
		in = nil
		pl.mu.Unlock()
	}
	if in != nil {
		// A trap, a timeout or a full memory leaves the instance in an
		// unknown state: never reuse it.
		in.close(context.WithoutCancel(ctx))
	}
	if err != nil {
		return mem, err
	}
	if code := uint32(res[0]); code != 0 {
		return mem, fmt.Errorf("%s returned %d: %w", CollectExport, code, ErrExit)
	}
	return mem, nil
}

func (p *Plugin) newInstanceWith(ctx context.Context, req Request, stdout, stderr io.Writer) (*instance, error) {
	in := &instance{}
	in.stdin.set(bytes.NewReader(nil))
	in.stdout.set(stdout)
	in.stderr.set(stderr)
	cfg, release, err := mounts(p.moduleConfig(req), req.Sandbox)
	if err != nil {
		return nil, err
	}
	cfg = cfg.
		WithStdin(&in.stdin).
		WithStdout(&in.stdout).
		WithStderr(&in.stderr).
		WithStartFunctions(InitExport)
	p.created.Add(1)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, cfg)
	if err != nil {
		if mod != nil {
			_ = mod.Close(context.WithoutCancel(ctx))
		}
		release()
		return nil, fmt.Errorf("%s: %w", InitExport, err)
	}
	in.mod, in.release = mod, release
	in.collect = mod.ExportedFunction(CollectExport)
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

// lineLogger turns stderr into one log record per line, up to max bytes a
// run; the rest is counted and reported once.
type lineLogger struct {
	logger  *slog.Logger
	sawOOM  bool // a line said the plugin ran out of memory
	max     int
	seen    int
	lines   int
	dropped int
	partial []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	n := len(b)
	if l.seen >= l.max {
		l.dropped += n
		return n, nil
	}
	if room := l.max - l.seen; len(b) > room {
		l.dropped += len(b) - room
		b = b[:room]
	}
	l.seen += len(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return n, nil
}

func (l *lineLogger) emit(line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return
	}
	if strings.Contains(line, "out of memory") || strings.Contains(line, "memory allocation of") {
		l.sawOOM = true
	}
	if l.lines >= maxStderrLines {
		l.dropped += len(line) + 1
		return
	}
	l.lines++
	l.logger.Info("plugin stderr", "line", line)
}

func (l *lineLogger) flush() {
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
	if l.dropped > 0 {
		l.logger.Warn("plugin stderr truncated", "dropped_bytes", l.dropped, "limit_bytes", l.max, "limit_lines", maxStderrLines)
	}
}
