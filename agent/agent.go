// Package agent wires pushagent together: a loaded config, the wasm plugin
// host, the scheduler, the merge rules and the outputs (Pushgateways and
// remote-write receivers). cmd/ only parses flags, calls New, and then Run
// (run), Collect and Push (once), or nothing more (validate).
//
// This package must never let one collector's failure stop its job's other
// collectors, nor one job's failure stop another job.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/agent/schedule"
	"github.com/pushagent/pushagent/agent/series"
	"github.com/pushagent/pushagent/agent/wasmhost"
)

// Options configure an Agent.
type Options struct {
	// Logger receives everything the agent logs. Default: discard.
	Logger *slog.Logger
	// CacheDir is wazero's on-disk compilation cache; empty keeps it in
	// memory (every start then recompiles every plugin).
	CacheDir string
	// ShutdownGrace bounds how long in-flight runs may take to finish after
	// a shutdown signal. 0: [config.DefaultShutdownGrace].
	ShutdownGrace time.Duration
	// Registry, when set, receives the agent's own metrics.
	Registry prometheus.Registerer
	// Clock drives the schedule and the runs' deadlines. Default: the real
	// clock; tests pass a fake one to make runs happen when they say.
	Clock clockwork.Clock
	// Offline loads the plugins but opens no output (validate): no
	// remote_write buffer is created and nothing buffered is sent.
	Offline bool
}

// Agent runs the jobs of one config, which Reload can replace. Create it
// with New and Close it.
type Agent struct {
	opts    Options
	logger  *slog.Logger
	host    *wasmhost.Host
	metrics *selfMetrics
	reloads *reloadRecord

	cur atomic.Pointer[state] // what runs now; replaced whole by Reload

	mu    sync.Mutex          // serializes Reload with Run's start and end
	sched *schedule.Scheduler // set while Run runs
}

// state is one loaded config: its outputs and the prepared jobs this agent
// owns (all of them without a shard).
type state struct {
	cfg     *config.Config
	outputs []*namedOutput // in name order
	jobs    []*job
}

type namedOutput struct {
	name string
	cfg  config.Output
	out  output
}

// outputsOf are the outputs job j delivers to, in name order.
func (st *state) outputsOf(j config.Job) []*namedOutput {
	names := st.cfg.OutputsOf(j)
	var outs []*namedOutput
	for _, o := range st.outputs {
		if slices.Contains(names, o.name) {
			outs = append(outs, o)
		}
	}
	return outs
}

// job is one configured job as loaded. It finds its outputs in the state
// by name at each run, so a job is carried over a reload that changes
// them.
type job struct {
	cfg        config.Job
	collectors []collector // parallel to cfg.Collectors
	logger     *slog.Logger
	record     *jobRecord // last results, for Status; survives an unchanged reload
	rules      *jobRules  // relabelling caches
}

// New compiles every plugin (in parallel, once per file) and prepares the
// jobs. Every plugin that cannot be loaded is reported, each naming its
// job and collector.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Agent, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = config.DefaultShutdownGrace
	}
	host, err := wasmhost.New(wasmhost.Options{CacheDir: opts.CacheDir, Logger: logger})
	if err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, logger: logger, host: host, metrics: newSelfMetrics(opts.Registry), reloads: newReloadRecord(opts.Registry)}
	if opts.Registry != nil {
		opts.Registry.MustRegister(newPluginCollector(a))
	}
	st, err := a.prepare(ctx, cfg, nil)
	if err != nil {
		_ = host.Close(ctx)
		return nil, err
	}
	a.cur.Store(st)
	a.reloads.record(a.clock().Now(), true, ReloadResult{}, nil)
	if opts.Registry != nil {
		opts.Registry.MustRegister(newStateCollector(a))
	}
	return a, nil
}

// prepare builds the state for cfg. Jobs whose config and plugin files are
// unchanged from prev are taken over as they are, so a reload neither
// recompiles nor reschedules them; so are unchanged outputs (a gateway
// keeps its expiry schedule, a remote_write output its sender). Outputs
// of prev that cfg drops or changes are closed once the new state is
// ready; a changed remote_write output reopens its buffer after that.
func (a *Agent) prepare(ctx context.Context, cfg *config.Config, prev *state) (*state, error) {
	st := &state{cfg: cfg}
	var fresh []*job
	for _, jc := range cfg.Jobs {
		if !cfg.Owned(jc) {
			continue
		}
		jc = fitTimeouts(cfg, jc)
		if prev != nil {
			if old := prev.job(jc.Name); old != nil && old.unchanged(jc) {
				// Its outputs may have changed all the same (an output
				// removed or added): its status lists the current ones.
				old.record.keepOutputs(cfg.OutputsOf(jc))
				st.jobs = append(st.jobs, old)
				continue
			}
		}
		j := &job{
			cfg:        jc,
			collectors: make([]collector, len(jc.Collectors)),
			logger:     a.logger.With("job", jc.Name),
			rules:      newJobRules(jc),
		}
		st.jobs = append(st.jobs, j)
		fresh = append(fresh, j)
	}
	if err := a.load(ctx, fresh); err != nil {
		return nil, err
	}
	for _, j := range fresh {
		j.record = newJobRecord(j, cfg.OutputsOf(j.cfg))
	}
	if a.opts.Offline {
		return st, nil
	}
	var reopen []config.Output
	for _, oc := range cfg.AllOutputs() {
		if old := prev.output(oc.Name); old != nil && reflect.DeepEqual(old.cfg, oc) {
			st.outputs = append(st.outputs, old)
			continue
		}
		if _, dir := oc.BufferDir(); dir != "" && prev.bufferInUse(dir) {
			reopen = append(reopen, oc)
			continue
		}
		out, err := newOutput(oc, a.metrics, a.logger)
		if err != nil {
			st.closeOutputsNotIn(prev, a.logger)
			return nil, err
		}
		st.outputs = append(st.outputs, &namedOutput{name: oc.Name, cfg: oc, out: out})
	}
	if len(reopen) > 0 {
		// Two queues must never share a buffer: the old one goes first.
		prev.closeOutputsNotIn(st, a.logger)
		for _, oc := range reopen {
			out, err := newOutput(oc, a.metrics, a.logger)
			if err != nil {
				return nil, err
			}
			st.outputs = append(st.outputs, &namedOutput{name: oc.Name, cfg: oc, out: out})
		}
		slices.SortFunc(st.outputs, func(x, y *namedOutput) int { return strings.Compare(x.name, y.name) })
	}
	return st, nil
}

func (st *state) output(name string) *namedOutput {
	if st == nil {
		return nil
	}
	for _, o := range st.outputs {
		if o.name == name {
			return o
		}
	}
	return nil
}

func (st *state) bufferInUse(dir string) bool {
	if st == nil {
		return false
	}
	for _, o := range st.outputs {
		if _, d := o.cfg.BufferDir(); d == dir {
			return true
		}
	}
	return false
}

// closeOutputsNotIn closes the outputs of st that next does not keep.
func (st *state) closeOutputsNotIn(next *state, log *slog.Logger) {
	if st == nil {
		return
	}
	for _, o := range st.outputs {
		if next != nil && slices.Contains(next.outputs, o) {
			continue
		}
		if err := o.out.close(); err != nil {
			log.Error("closing an output", "output", o.name, "err", err)
		}
	}
}

func (st *state) job(name string) *job {
	if st == nil {
		return nil
	}
	for _, j := range st.jobs {
		if j.cfg.Name == name {
			return j
		}
	}
	return nil
}

// unchanged reports whether jc is the job j runs, plugin files included.
func (j *job) unchanged(jc config.Job) bool {
	if !reflect.DeepEqual(j.cfg, jc) {
		return false
	}
	for _, col := range j.collectors {
		if col != nil && col.changed() {
			return false
		}
	}
	return true
}

// load compiles all plugins. wazero compiles one module on one goroutine,
// so parallelism across files is what shortens a cold start. From a warm
// compilation cache a load only reads a file of machine code (≈ 0.1 s for
// a Go plugin) into memory and copies it into executable pages: done in
// parallel, the agent's peak memory held every file at once. So plugins
// load one at a time, the file's bytes handed back to the OS after each,
// until a load is still going after compiledLoad (it is compiling: the
// cache is cold); the rest then load in parallel beside it.
func (a *Agent) load(ctx context.Context, jobs []*job) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, runtime.GOMAXPROCS(0))
	)
	start := time.Now()
	add := func(j *job, i int, col collector, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("job %q collector %q: %w", j.cfg.Name, j.cfg.Collectors[i].Name, err))
			return
		}
		j.collectors[i] = col
	}
	warm := true
	for _, j := range jobs {
		for i, c := range j.cfg.Collectors {
			if warm {
				t0 := time.Now()
				done := make(chan struct{})
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					defer close(done)
					col, err := newCollector(ctx, a.host, c)
					add(j, i, col, err)
				})
				select {
				case <-done:
					if time.Since(t0) >= freshLoad {
						// A plugin file was read, not one already loaded:
						// its bytes are garbage, and the next file can
						// take their place. (Returning them to the OS each
						// time, FreeOSMemory, made a warm start of five
						// Go plugins 1.7× as long; load does it once, at
						// the end.)
						runtime.GC()
					}
				case <-time.After(compiledLoad):
					// It is compiling: the cache is cold, and the rest
					// compile beside it.
					warm = false
				}
				continue
			}
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				col, err := newCollector(ctx, a.host, c)
				add(j, i, col, err)
			})
		}
	}
	wg.Wait()
	// Compiling leaves tens of MiB of garbage (decoded modules, compiler
	// state) that the runtime would hand back to the OS only slowly; a
	// sidecar's resident memory should drop to its steady state at once.
	debug.FreeOSMemory()
	sort.Slice(errs, func(i, k int) bool { return errs[i].Error() < errs[k].Error() })
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if n := countCollectors(jobs); n > 0 {
		a.logger.Info("plugins loaded", "collectors", n, "duration", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// A load still going after compiledLoad is compiling its plugin (from the
// cache a Go plugin loads in about 0.1 s); one that took freshLoad or
// longer read its plugin from the cache (shorter: the plugin file was
// loaded already, for another collector). A cold start waits compiledLoad
// longer than it would in parallel from the first plugin on.
const (
	compiledLoad = 500 * time.Millisecond
	freshLoad    = 5 * time.Millisecond
)

func countCollectors(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		n += len(j.cfg.Collectors)
	}
	return n
}

// Close releases plugin instances and compiled code, and closes the
// outputs (a remote_write buffer keeps what it has not sent).
func (a *Agent) Close(ctx context.Context) error {
	var errs []error
	if st := a.cur.Load(); st != nil {
		for _, o := range st.outputs {
			errs = append(errs, o.out.close())
		}
	}
	return errors.Join(append(errs, a.host.Close(ctx))...)
}

// Jobs lists the names of the jobs this agent runs, in config order.
func (a *Agent) Jobs() []string {
	jobs := a.cur.Load().jobs
	names := make([]string, len(jobs))
	for i, j := range jobs {
		names[i] = j.cfg.Name
	}
	return names
}

// Collection is the outcome of one run of a job, before pushing.
type Collection struct {
	Time     time.Time // when the collectors ran: the samples' time
	Job      string
	Grouping map[string]string
	Method   string
	// Batch is the job's merged series, status series included: read by
	// every output of the job at once, changed by none.
	Batch    *series.Batch
	Statuses []merge.Status
}

// maxConcurrentCollectors bounds one job's parallel plugin runs: enough to
// hide I/O waits, few enough that a job with many collectors does not
// starve the others on a small machine.
var maxConcurrentCollectors = 2 * runtime.GOMAXPROCS(0)

// Collect runs every collector of the job concurrently and merges their
// output. It does not push.
func (a *Agent) Collect(ctx context.Context, name string) (*Collection, error) {
	st := a.cur.Load()
	j := st.job(name)
	if j == nil {
		for _, jc := range st.cfg.Jobs {
			if jc.Name == name {
				return nil, fmt.Errorf("job %q belongs to shard %d of %d, not to this agent's (%s)", name, config.ShardOf(name, st.cfg.Shard.Count), st.cfg.Shard.Count, st.cfg.Shard)
			}
		}
		return nil, fmt.Errorf("no job named %q in %s (jobs: %v)", name, st.cfg.Path, a.Jobs())
	}
	return a.collect(ctx, j), nil
}

func (a *Agent) collect(ctx context.Context, j *job) *Collection {
	at := time.Now()
	results := make([]merge.Result, len(j.cfg.Collectors))
	sem := make(chan struct{}, maxConcurrentCollectors)
	var wg sync.WaitGroup
	for i, c := range j.cfg.Collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = a.runCollector(ctx, j, i, c)
		}()
	}
	wg.Wait()
	batch, statuses := merge.Job{Name: j.cfg.Name, Reserved: slices.Sorted(maps.Keys(j.cfg.Grouping)), Logger: a.logger}.MergeBatch(results)
	for _, st := range statuses {
		a.metrics.observeCollector(j.cfg.Name, st)
	}
	batch = a.jobRelabel(j, batch)
	return &Collection{Time: at, Job: j.cfg.Name, Grouping: j.cfg.Grouping, Method: j.cfg.Method, Batch: batch, Statuses: statuses}
}

func (a *Agent) runCollector(ctx context.Context, j *job, i int, c config.Collector) merge.Result {
	log := j.logger.With("collector", c.Name)
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	col := j.collectors[i]
	out, err := col.run(ctx, j.cfg.Name, log)
	took := time.Since(start)
	plugin := col.source()
	if err != nil {
		err = fmt.Errorf("job %q collector %q: %w", j.cfg.Name, c.Name, err)
		log.Warn("collector failed", "plugin", plugin, "duration", took.Round(time.Microsecond), "err", err)
	}
	return merge.Result{Collector: c.Name, Plugin: plugin, Labels: c.Labels, SeriesLimit: c.SeriesLimit, Output: out, Err: err, Duration: took,
		Relabel: a.collectorRelabel(j, i)}
}

// Push sends a collection to every output of its job, each on its own,
// and waits until buffering outputs (remote_write) have delivered it, or
// ctx ends; the error joins those of the outputs that failed.
func (a *Agent) Push(ctx context.Context, c *Collection) error {
	res, err := a.PushEach(ctx, c)
	errs := []error{err}
	for _, r := range res {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}

// pushAll pushes c to every output of j concurrently, so that a slow or
// dead output holds back no other, and records each result.
func (a *Agent) pushAll(ctx context.Context, st *state, j *job, c *Collection) []error {
	outs := st.outputsOf(j.cfg)
	errs := make([]error, len(outs))
	var wg sync.WaitGroup
	for i, o := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = a.push(ctx, o, j, c)
		}()
	}
	wg.Wait()
	return errs
}

func (a *Agent) push(ctx context.Context, o *namedOutput, j *job, c *Collection) error {
	start := time.Now()
	c = a.forOutput(a.cur.Load(), o, j, c)
	kind, url := o.out.describe()
	err := o.out.push(ctx, c)
	reason := ""
	if err != nil {
		reason = o.out.reason(err)
	}
	a.metrics.observePush(c.Job, o.name, reason, err, time.Since(start))
	j.record.pushed(o.name, kind, url, err)
	if err != nil {
		j.logger.Error("push failed", "output", o.name, kind, url, "reason", reason, "err", err)
		return err
	}
	// A buffering output has only written its buffer: it logs "sent" once
	// the receiver takes the data. A line that says "pushed" must mean it
	// arrived.
	msg := "pushed"
	if o.out.buffers() {
		msg = "buffered"
	}
	j.logger.Info(msg, "output", o.name, kind, url, "series", c.Batch.Series(), "samples", c.Batch.Len(), "duration", time.Since(start).Round(time.Millisecond))
	o.out.afterPush(ctx, j.cfg, j.logger)
	return nil
}

// runJob is one scheduled run: collect, merge, push. The run (including
// push retries) ends by deadline, the time the next run is due, so a newer
// run's data supersedes an older retry.
func (a *Agent) runJob(ctx context.Context, j *job, deadline time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	j.record.start()
	defer j.record.finish(start)
	st := a.cur.Load()
	// Collectors stop early enough to leave the push its share of the run:
	// a collector stuck until the run's deadline would otherwise fail the
	// push of all the others.
	collectFor := deadline - pushReserve(deadline, st.reserve(j.cfg))
	collectCtx, collectCancel := context.WithTimeoutCause(ctx, collectFor, &collectCapError{collectFor: collectFor, run: deadline})
	c := a.collect(collectCtx, j)
	collectCancel()
	j.record.collected(c.Statuses)
	a.pushAll(ctx, st, j, c)
}

// reserve is the longest share of a run one of the job's outputs needs.
func (st *state) reserve(j config.Job) time.Duration {
	var r time.Duration
	for _, o := range st.outputsOf(j) {
		r = max(r, outputReserve(o.cfg))
	}
	return r
}

// Run schedules every job and blocks until ctx ends, then shuts down
// gracefully: no new runs, in-flight runs get ShutdownGrace to finish, and
// jobs with delete_on_shutdown have their group deleted at the gateway.
func (a *Agent) Run(ctx context.Context) error {
	// The scheduler owns the counts of runs and skips; /metrics reads them.
	s, err := schedule.New(schedule.Options{Clock: a.clock(), Logger: a.logger})
	if err != nil {
		return err
	}
	a.mu.Lock()
	st := a.cur.Load()
	for _, j := range st.jobs {
		if err := a.schedule(s, j); err != nil {
			a.mu.Unlock()
			_ = s.Shutdown(context.Background())
			return err
		}
	}
	a.sched = s
	s.Start()
	a.mu.Unlock()
	var outs []string
	for _, o := range st.outputs {
		kind, url := o.out.describe()
		outs = append(outs, o.name+" ("+kind+" "+url+")")
	}
	a.logger.Info("agent started", "jobs", len(st.jobs), "outputs", strings.Join(outs, ", "), "shard", st.cfg.Shard.String())
	a.warnTimeouts(st.cfg)
	<-ctx.Done()

	a.mu.Lock()
	a.sched = nil // no reload from here on
	a.mu.Unlock()
	a.logger.Info("shutting down", "grace", a.opts.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownGrace)
	defer cancel()
	err = s.Shutdown(graceCtx)
	st = a.cur.Load()
	for _, j := range st.jobs {
		_, skipped := s.Stats(j.cfg.Name)
		if skipped > 0 {
			j.logger.Info("runs skipped because the previous run was still going", "skipped", skipped)
		}
		for _, o := range st.outputsOf(j.cfg) {
			o.out.shutdown(context.Background(), j.cfg, j.logger)
		}
	}
	return err
}

func (a *Agent) schedule(s *schedule.Scheduler, j *job) error {
	return s.Add(schedule.Job{
		Name:   j.cfg.Name,
		Every:  j.cfg.Every,
		Cron:   j.cfg.Cron,
		Jitter: j.cfg.Jitter,
		Run: func(ctx context.Context) {
			deadline := a.clock().Until(s.NextRun(j.cfg.Name))
			if deadline <= 0 {
				deadline = runDeadline(j.cfg)
			}
			a.runJob(ctx, j, runLength(deadline))
		},
	})
}

// ReloadResult says what a reload changed: jobs, then outputs (an
// unchanged output keeps its connections and its sender).
type ReloadResult struct {
	Added, Changed, Removed, Unchanged           []string
	OutputsAdded, OutputsChanged, OutputsRemoved []string
}

// Reload replaces the config. The new config's plugins are compiled first;
// if that fails, nothing changes and the error says why. Jobs whose config
// and plugin files are unchanged keep running on their schedule, neither
// dropped nor run an extra time; changed jobs are rescheduled (a run still
// going finishes first: runs of one job never overlap); removed jobs stop
// (their group stays at the gateway). Safe to call while Run runs, or
// before it. The outcome is recorded for /metrics and the status page.
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) (ReloadResult, error) {
	res, err := a.reload(ctx, cfg)
	a.reloads.record(a.clock().Now(), false, res, err)
	return res, err
}

func (a *Agent) reload(ctx context.Context, cfg *config.Config) (ReloadResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.cur.Load()
	next, err := a.prepare(ctx, cfg, prev)
	if err != nil {
		return ReloadResult{}, err
	}
	a.warnTimeouts(cfg)
	var res ReloadResult
	for _, j := range next.jobs {
		switch old := prev.job(j.cfg.Name); {
		case old == nil:
			res.Added = append(res.Added, j.cfg.Name)
		case old == j:
			res.Unchanged = append(res.Unchanged, j.cfg.Name)
		default:
			res.Changed = append(res.Changed, j.cfg.Name)
		}
	}
	for _, j := range prev.jobs {
		if next.job(j.cfg.Name) == nil {
			res.Removed = append(res.Removed, j.cfg.Name)
			a.metrics.forget(j.cfg.Name)
		}
	}
	res.outputChanges(prev, next)
	if s := a.sched; s != nil {
		for _, name := range append(slices.Clone(res.Changed), res.Removed...) {
			if err := s.Remove(name); err != nil {
				a.logger.Error("reload: unscheduling a job", "job", name, "err", err)
			}
		}
		for _, j := range next.jobs {
			if slices.Contains(res.Added, j.cfg.Name) || slices.Contains(res.Changed, j.cfg.Name) {
				if err := a.schedule(s, j); err != nil {
					a.logger.Error("reload: scheduling a job", "job", j.cfg.Name, "err", err)
				}
			}
		}
	}
	a.cur.Store(next)
	prev.closeOutputsNotIn(next, a.logger)
	return res, nil
}

// pushReserve is the part of a run of the given length that its
// collectors leave to the push: a quarter, and no more than one push
// request may take. A quarter of a one-second run is 250 ms, plenty for a
// push to a gateway that is up; one that is down fails the push either way.
func pushReserve(run, gatewayTimeout time.Duration) time.Duration {
	if gatewayTimeout <= 0 {
		return run / 4
	}
	return min(run/4, gatewayTimeout)
}

// runLength is how long a run may take when the next is due in untilNext:
// a little less, since a run still going when the next is due makes the
// scheduler skip that one, halving the rate while a gateway fails.
func runLength(untilNext time.Duration) time.Duration {
	return untilNext - min(untilNext/10, 250*time.Millisecond)
}

// collectCapError is the cause of a collector's stop when the run, not the
// collector's own timeout, ended it. It wraps context.DeadlineExceeded, so
// that it still reads as a timeout.
type collectCapError struct {
	collectFor, run time.Duration
}

func (e *collectCapError) Error() string {
	return fmt.Sprintf("%v: the run stops its collectors after %v to leave the push %v of its %v; lower the collector's timeout or raise the job's every",
		context.DeadlineExceeded, e.collectFor.Round(time.Millisecond), (e.run - e.collectFor).Round(time.Millisecond), e.run.Round(time.Millisecond))
}

func (e *collectCapError) Unwrap() error { return context.DeadlineExceeded }

// TimeoutWarnings lists the collectors whose timeout cannot fit the
// interval of their job: a run stops them earlier, so that its push keeps
// its share (see pushReserve). validate prints these and the agent logs
// them at load; jobs on a cron schedule vary and are not checked.
func TimeoutWarnings(cfg *config.Config) []string {
	var out []string
	for _, j := range cfg.Jobs {
		if j.Every <= 0 {
			continue
		}
		run := runLength(j.Every)
		collectFor := run - pushReserve(run, configReserve(cfg, j))
		for _, c := range j.Collectors {
			// The built-in default is lowered instead (fitTimeouts).
			if c.Timeout > collectFor && c.TimeoutSetAt != "" {
				out = append(out, fmt.Sprintf("job %q collector %q: timeout %v (set at %s) does not fit every %v: a run stops its collectors after %v to leave the push %v; set timeout to at most %v or raise every",
					j.Name, c.Name, c.Timeout, c.TimeoutSetAt, j.Every, collectFor.Round(time.Millisecond), (run-collectFor).Round(time.Millisecond), collectFor.Truncate(100*time.Millisecond)))
			}
		}
	}
	return out
}

// configReserve is state.reserve before the outputs exist.
func configReserve(cfg *config.Config, j config.Job) time.Duration {
	names := cfg.OutputsOf(j)
	var r time.Duration
	for _, o := range cfg.AllOutputs() {
		if slices.Contains(names, o.Name) {
			r = max(r, outputReserve(o))
		}
	}
	return r
}

func (a *Agent) clock() clockwork.Clock {
	if a.opts.Clock == nil {
		return clockwork.NewRealClock()
	}
	return a.opts.Clock
}

func (a *Agent) warnTimeouts(cfg *config.Config) {
	for _, w := range TimeoutWarnings(cfg) {
		a.logger.Warn("collector timeout cut short by its job's interval", "detail", w)
	}
}

// runDeadline is how long one run may take when the scheduler cannot say
// when the next run is due: an interval, or a minute for cron jobs.
func runDeadline(j config.Job) time.Duration {
	if j.Every > 0 {
		return j.Every
	}
	return time.Minute
}
