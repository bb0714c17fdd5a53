// Package schedule runs the agent's jobs on their schedules with gocron:
// fixed intervals or cron expressions, a random start delay (jitter) so
// that replicas do not push in lockstep, and no overlap: a run that is due
// while the previous run of the same job is still going is skipped and
// counted, never queued. Jobs run in goroutines of their own, so a slow
// job never delays another.
//
// This package must never run a job twice at once, nor block a job behind
// another.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
)

// Job is one scheduled job.
type Job struct {
	Name string
	// Every is the interval; when zero, Cron is used.
	Every time.Duration
	// Cron is a standard 5-field expression, or 6 fields with leading
	// seconds.
	Cron string
	// Jitter delays each run by a random duration in [0, Jitter).
	Jitter time.Duration
	// Run does the work. Its context ends when the scheduler shuts down
	// past its grace period.
	Run func(ctx context.Context)
}

// Options configure a Scheduler. The zero value uses the real clock.
type Options struct {
	// Clock drives the schedule; tests pass a fake clock.
	Clock clockwork.Clock
	// Logger gets skipped-run warnings.
	Logger *slog.Logger
	// Jitter returns a random duration in [0, max); tests make it fixed.
	Jitter func(max time.Duration) time.Duration
	// OnSkip, when set, is called for every skipped run (for a counter).
	OnSkip func(job string)
}

// Scheduler runs jobs. Its methods are safe to call concurrently.
type Scheduler struct {
	s      gocron.Scheduler
	clock  clockwork.Clock
	logger *slog.Logger
	jitter func(time.Duration) time.Duration
	onSkip func(string)

	ctx    context.Context // runs derive from it; canceled past the grace
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	state    map[string]*jobState
	stopping bool          // set by Shutdown; guards wg.Add against wg.Wait
	stop     chan struct{} // closed by Shutdown: runs still in their jitter delay give up
}

type jobState struct {
	running atomic.Bool
	runs    atomic.Uint64
	skipped atomic.Uint64
	id      gocron.Job
}

// New returns a stopped scheduler; add jobs, then Start.
func New(opts Options) (*Scheduler, error) {
	clock := opts.Clock
	if clock == nil {
		clock = clockwork.NewRealClock()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	jitter := opts.Jitter
	if jitter == nil {
		jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		}
	}
	s, err := gocron.NewScheduler(gocron.WithClock(clock))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{s: s, clock: clock, logger: logger, jitter: jitter, onSkip: opts.OnSkip, ctx: ctx, cancel: cancel, state: map[string]*jobState{}, stop: make(chan struct{})}, nil
}

// Add schedules a job. Interval jobs run once right at Start (or at once
// when added to a started scheduler), so a new agent pushes at once, not an
// interval later; cron jobs wait for their first match.
//
// A job added again after Remove keeps its overlap guard: if a run of the
// old definition is still going, runs of the new one are skipped until it
// ends, so a reload never runs one job twice at once.
func (s *Scheduler) Add(j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, known := s.state[j.Name]
	if known && st.id != nil {
		return fmt.Errorf("job %q: scheduled twice", j.Name)
	}
	var def gocron.JobDefinition
	opts := []gocron.JobOption{gocron.WithName(j.Name)}
	switch {
	case j.Every > 0:
		def = gocron.DurationJob(j.Every)
		opts = append(opts, gocron.WithStartAt(gocron.WithStartImmediately()))
	case j.Cron != "":
		def = gocron.CronJob(j.Cron, len(strings.Fields(j.Cron)) == 6)
	default:
		return fmt.Errorf("job %q: neither an interval nor a cron expression", j.Name)
	}
	if !known {
		st = &jobState{}
	}
	id, err := s.s.NewJob(def, gocron.NewTask(func() { s.fire(j, st) }), opts...)
	if err != nil {
		return fmt.Errorf("job %q: %w", j.Name, err)
	}
	st.id = id
	s.state[j.Name] = st
	return nil
}

// Remove stops scheduling a job. A run in progress finishes; its guard
// stays, so a job added again under the same name does not overlap it.
func (s *Scheduler) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.state[name]
	if !ok || st.id == nil {
		return fmt.Errorf("job %q: not scheduled", name)
	}
	if err := s.s.RemoveJob(st.id.ID()); err != nil {
		return fmt.Errorf("job %q: %w", name, err)
	}
	st.id = nil
	return nil
}

// fire is called by gocron each time the job is due.
func (s *Scheduler) fire(j Job, st *jobState) {
	if !st.running.CompareAndSwap(false, true) {
		n := st.skipped.Add(1)
		s.logger.Warn("run skipped: the previous run of this job is still going", "job", j.Name, "skipped_total", n)
		if s.onSkip != nil {
			s.onSkip(j.Name)
		}
		return
	}
	defer st.running.Store(false)
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	if j.Jitter > 0 {
		// A run still waiting out its jitter has not started: shutdown
		// must not spend its grace waiting for it.
		select {
		case <-s.clock.After(s.jitter(j.Jitter)):
		case <-s.stop:
			return
		}
	}
	if s.ctx.Err() != nil {
		return
	}
	st.runs.Add(1)
	j.Run(s.ctx)
}

// Start begins scheduling.
func (s *Scheduler) Start() { s.s.Start() }

// Stats reports how many runs of a job started and how many were skipped
// because the previous one was still going.
func (s *Scheduler) Stats(job string) (runs, skipped uint64) {
	s.mu.Lock()
	st, ok := s.state[job]
	s.mu.Unlock()
	if !ok {
		return 0, 0
	}
	return st.runs.Load(), st.skipped.Load()
}

// NextRun is when the job is due next (zero if unknown).
func (s *Scheduler) NextRun(job string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.state[job]
	if !ok || st.id == nil {
		return time.Time{}
	}
	t, _ := st.id.NextRun()
	return t
}

// Shutdown stops scheduling new runs and waits for in-flight runs until
// ctx ends; then it cancels them and waits for them to return. It returns
// ctx's error if runs had to be canceled.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopping {
		close(s.stop)
	}
	s.stopping = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("in-flight runs canceled at shutdown: %w", ctx.Err())
		s.cancel()
		<-done
	}
	s.cancel()
	// Our runs have returned, so gocron has nothing left to wait for.
	if serr := s.s.Shutdown(); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}
