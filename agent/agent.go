// Package agent wires pushagent together: a loaded config, the wasm plugin
// host, the scheduler, the merge rules and the Pushgateway client. cmd/
// only parses flags and calls New, Run or Once.
//
// This package must never let one collector's failure stop its job's other
// collectors, nor one job's failure stop another job.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/httpplugin"
	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/agent/push"
	"github.com/pushagent/pushagent/agent/schedule"
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
	// a shutdown signal. Default 10s.
	ShutdownGrace time.Duration
	// Registry, when set, receives the agent's own metrics.
	Registry prometheus.Registerer
}

// Agent runs the jobs of one config. Create it with New and Close it.
type Agent struct {
	cfg     *config.Config
	opts    Options
	logger  *slog.Logger
	host    *wasmhost.Host
	pusher  *push.Client
	jobs    []*job
	metrics *selfMetrics
}

type job struct {
	cfg      config.Job
	plugins  []*wasmhost.Plugin   // parallel to cfg.Collectors; nil for HTTP plugins
	remote   []*httpplugin.Client // parallel to cfg.Collectors; nil for wasm plugins
	reserved []string
	logger   *slog.Logger
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
		opts.ShutdownGrace = 10 * time.Second
	}
	host, err := wasmhost.New(wasmhost.Options{CacheDir: opts.CacheDir, Logger: logger})
	if err != nil {
		return nil, err
	}
	pusher, err := push.New(cfg.Gateway)
	if err != nil {
		_ = host.Close(ctx)
		return nil, err
	}
	a := &Agent{cfg: cfg, opts: opts, logger: logger, host: host, pusher: pusher, metrics: newSelfMetrics(opts.Registry)}
	for _, jc := range cfg.Jobs {
		reserved := make([]string, 0, len(jc.Grouping))
		for k := range jc.Grouping {
			reserved = append(reserved, k)
		}
		sort.Strings(reserved)
		a.jobs = append(a.jobs, &job{
			cfg:      jc,
			plugins:  make([]*wasmhost.Plugin, len(jc.Collectors)),
			remote:   make([]*httpplugin.Client, len(jc.Collectors)),
			reserved: reserved,
			logger:   logger.With("job", jc.Name),
		})
	}
	if err := a.load(ctx); err != nil {
		_ = host.Close(ctx)
		return nil, err
	}
	return a, nil
}

// load compiles all plugins concurrently. wazero compiles one module on one
// goroutine, so parallelism across files is what shortens a cold start.
func (a *Agent) load(ctx context.Context) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, runtime.GOMAXPROCS(0))
	)
	start := time.Now()
	for _, j := range a.jobs {
		for i, c := range j.cfg.Collectors {
			if c.HTTP != nil {
				cl, err := httpplugin.New(c.HTTP)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("job %q collector %q: %w", j.cfg.Name, c.Name, err))
				}
				mu.Unlock()
				j.remote[i] = cl
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				p, err := a.host.Load(ctx, c.Plugin, c.MemoryLimit)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("job %q collector %q: %w", j.cfg.Name, c.Name, err))
					return
				}
				j.plugins[i] = p
			}()
		}
	}
	wg.Wait()
	sort.Slice(errs, func(i, k int) bool { return errs[i].Error() < errs[k].Error() })
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	a.logger.Info("plugins loaded", "collectors", countCollectors(a.jobs), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func countCollectors(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		n += len(j.cfg.Collectors)
	}
	return n
}

// Close releases plugin instances and compiled code.
func (a *Agent) Close(ctx context.Context) error { return a.host.Close(ctx) }

// Jobs lists the configured job names in config order.
func (a *Agent) Jobs() []string {
	names := make([]string, len(a.jobs))
	for i, j := range a.jobs {
		names[i] = j.cfg.Name
	}
	return names
}

// Collection is the outcome of one run of a job, before pushing.
type Collection struct {
	Job      string
	Grouping map[string]string
	Method   string
	Families []*dto.MetricFamily
	Statuses []merge.Status
}

// maxConcurrentCollectors bounds one job's parallel plugin runs: enough to
// hide I/O waits, few enough that a job with many collectors does not
// starve the others on a small machine.
var maxConcurrentCollectors = 2 * runtime.GOMAXPROCS(0)

// Collect runs every collector of the job concurrently and merges their
// output. It does not push.
func (a *Agent) Collect(ctx context.Context, name string) (*Collection, error) {
	j := a.job(name)
	if j == nil {
		return nil, fmt.Errorf("no job named %q in %s (jobs: %v)", name, a.cfg.Path, a.Jobs())
	}
	return a.collect(ctx, j), nil
}

func (a *Agent) job(name string) *job {
	for _, j := range a.jobs {
		if j.cfg.Name == name {
			return j
		}
	}
	return nil
}

func (a *Agent) collect(ctx context.Context, j *job) *Collection {
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
	fams, statuses := merge.Job{Name: j.cfg.Name, Reserved: j.reserved, Logger: a.logger}.Merge(results)
	for _, st := range statuses {
		a.metrics.observeCollector(j.cfg.Name, st)
	}
	return &Collection{Job: j.cfg.Name, Grouping: j.cfg.Grouping, Method: j.cfg.Method, Families: fams, Statuses: statuses}
}

func (a *Agent) runCollector(ctx context.Context, j *job, i int, c config.Collector) merge.Result {
	log := j.logger.With("collector", c.Name)
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	var (
		out    []byte
		err    error
		plugin = c.Plugin
	)
	if c.HTTP != nil {
		plugin = j.remote[i].URL()
		out, err = j.remote[i].Run(ctx, j.cfg.Name, c.Name, c.Config, c.MaxOutput)
	} else {
		out, err = j.plugins[i].Run(ctx, wasmhost.Request{
			Config:    c.Config,
			Sandbox:   wasmhost.Sandbox{Mounts: c.Mounts, Env: c.Env},
			MaxOutput: c.MaxOutput,
			Logger:    log,
			HTTP: wasmhost.HTTPGrant{
				AllowHosts:  c.AllowHosts,
				CAFile:      c.CAFile,
				MaxResponse: c.MaxResponse,
				Timeout:     c.Timeout,
			},
		})
	}
	took := time.Since(start)
	if err != nil {
		err = fmt.Errorf("job %q collector %q: %w", j.cfg.Name, c.Name, err)
		log.Warn("collector failed", "plugin", plugin, "duration", took.Round(time.Microsecond), "err", err)
	}
	return merge.Result{Collector: c.Name, Labels: c.Labels, Output: out, Err: err, Duration: took}
}

// Push sends a collection to the gateway.
func (a *Agent) Push(ctx context.Context, c *Collection) error {
	start := time.Now()
	err := a.pusher.Push(ctx, c.Job, c.Grouping, c.Method, gatherer(c.Families))
	a.metrics.observePush(c.Job, err, time.Since(start))
	return err
}

type gatherer []*dto.MetricFamily

func (g gatherer) Gather() ([]*dto.MetricFamily, error) { return g, nil }

// runJob is one scheduled run: collect, merge, push. The run (including
// push retries) ends by deadline, the time the next run is due, so a newer
// run's data supersedes an older retry.
func (a *Agent) runJob(ctx context.Context, j *job, deadline time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	start := time.Now()
	c := a.collect(ctx, j)
	failed := 0
	for _, st := range c.Statuses {
		if !st.Success {
			failed++
		}
	}
	err := a.Push(ctx, c)
	if err != nil {
		j.logger.Error("push failed", "gateway", a.pusher.URL(), "err", err)
		return
	}
	j.logger.Info("pushed", "gateway", a.pusher.URL(), "collectors", len(c.Statuses), "failed_collectors", failed,
		"series", countSeries(c.Families), "duration", time.Since(start).Round(time.Millisecond))
}

func countSeries(fams []*dto.MetricFamily) int {
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	return n
}

// Run schedules every job and blocks until ctx ends, then shuts down
// gracefully: no new runs, in-flight runs get ShutdownGrace to finish, and
// jobs with delete_on_shutdown have their group deleted at the gateway.
func (a *Agent) Run(ctx context.Context) error {
	s, err := schedule.New(schedule.Options{Logger: a.logger})
	if err != nil {
		return err
	}
	for _, j := range a.jobs {
		err := s.Add(schedule.Job{
			Name:   j.cfg.Name,
			Every:  j.cfg.Every,
			Cron:   j.cfg.Cron,
			Jitter: j.cfg.Jitter,
			Run: func(ctx context.Context) {
				a.metrics.runs.WithLabelValues(j.cfg.Name).Inc()
				deadline := time.Until(s.NextRun(j.cfg.Name))
				if deadline <= 0 {
					deadline = runDeadline(j.cfg)
				}
				a.runJob(ctx, j, deadline)
			},
		})
		if err != nil {
			_ = s.Shutdown(context.Background())
			return err
		}
	}
	s.Start()
	a.logger.Info("agent started", "jobs", len(a.jobs), "gateway", a.pusher.URL())
	<-ctx.Done()
	a.logger.Info("shutting down", "grace", a.opts.ShutdownGrace)
	graceCtx, cancel := context.WithTimeout(context.Background(), a.opts.ShutdownGrace)
	defer cancel()
	err = s.Shutdown(graceCtx)
	for _, j := range a.jobs {
		_, skipped := s.Stats(j.cfg.Name)
		if skipped > 0 {
			j.logger.Info("runs skipped because the previous run was still going", "skipped", skipped)
		}
		if !j.cfg.DeleteOnShutdown {
			continue
		}
		dctx, dcancel := context.WithTimeout(context.Background(), a.cfg.Gateway.Timeout)
		if derr := a.pusher.Delete(dctx, j.cfg.Name, j.cfg.Grouping); derr != nil {
			j.logger.Error("delete on shutdown failed", "gateway", a.pusher.URL(), "err", derr)
		} else {
			j.logger.Info("group deleted from the gateway", "gateway", a.pusher.URL())
		}
		dcancel()
	}
	return err
}

// runDeadline is how long one run may take when the scheduler cannot say
// when the next run is due: an interval, or a minute for cron jobs.
func runDeadline(j config.Job) time.Duration {
	if j.Every > 0 {
		return j.Every
	}
	return time.Minute
}
