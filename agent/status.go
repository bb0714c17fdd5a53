package agent

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pushagent/pushagent/agent/merge"
)

// JobStatus is what the status page and /readyz show of a job. It holds no
// secret: grouping values and error messages only (push errors are
// scrubbed of credentials by the push client).
type JobStatus struct {
	Name     string
	Schedule string // "every 15s ±2s" or the cron expression
	Method   string
	Grouping map[string]string
	NextRun  time.Time // zero before Run or for a removed job

	Runs, Skipped     uint64 // runs started and skipped, as the scheduler counts them
	Running           bool
	LastRun           time.Time // start of the last finished run
	LastDuration      time.Duration
	LastPushOK        bool
	LastPushError     string
	LastSuccessfulRun time.Time // last push that succeeded
	FailingSince      time.Time // first failed push of the current failing streak

	Collectors []CollectorStatus
}

// CollectorStatus is a collector's last result.
type CollectorStatus struct {
	Name     string
	Plugin   string // file or endpoint
	Ran      bool   // false until its first run
	Success  bool
	Error    string
	Duration time.Duration
	Samples  int
	Dropped  int
}

// jobRecord is the mutable part of a job's status, updated by its runs.
type jobRecord struct {
	mu                sync.Mutex
	running           bool
	lastRun           time.Time
	lastDuration      time.Duration
	lastPushOK        bool
	lastPushError     string
	lastSuccessfulRun time.Time
	failingSince      time.Time
	collectors        []merge.Status
}

func (r *jobRecord) start() {
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
}

func (r *jobRecord) finish(start time.Time, statuses []merge.Status, pushErr error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = false
	r.lastRun, r.lastDuration = start, time.Since(start)
	r.collectors = statuses
	r.lastPushOK = pushErr == nil
	if pushErr == nil {
		r.lastPushError, r.lastSuccessfulRun, r.failingSince = "", time.Now(), time.Time{}
		return
	}
	r.lastPushError = pushErr.Error()
	if r.failingSince.IsZero() {
		r.failingSince = time.Now()
	}
}

func scheduleString(every time.Duration, cron string, jitter time.Duration) string {
	s := cron
	if every > 0 {
		s = "every " + every.String()
	}
	if jitter > 0 {
		s += " ±" + jitter.String()
	}
	return s
}

// Status snapshots every job of the current config, in config order.
func (a *Agent) Status() []JobStatus {
	st := a.cur.Load()
	a.mu.Lock()
	sched := a.sched
	a.mu.Unlock()
	out := make([]JobStatus, 0, len(st.jobs))
	for _, j := range st.jobs {
		js := JobStatus{
			Name:     j.cfg.Name,
			Schedule: scheduleString(j.cfg.Every, j.cfg.Cron, j.cfg.Jitter),
			Method:   j.cfg.Method,
			Grouping: j.cfg.Grouping,
		}
		if sched != nil {
			js.NextRun = sched.NextRun(j.cfg.Name)
			js.Runs, js.Skipped = sched.Stats(j.cfg.Name)
		}
		r := j.record
		r.mu.Lock()
		js.Running = r.running
		js.LastRun, js.LastDuration = r.lastRun, r.lastDuration
		js.LastPushOK, js.LastPushError = r.lastPushOK, r.lastPushError
		js.LastSuccessfulRun, js.FailingSince = r.lastSuccessfulRun, r.failingSince
		results := map[string]merge.Status{}
		for _, s := range r.collectors {
			results[s.Collector] = s
		}
		r.mu.Unlock()
		for i, c := range j.cfg.Collectors {
			cs := CollectorStatus{Name: c.Name, Plugin: c.Plugin}
			if col := j.collectors[i]; col != nil {
				cs.Plugin = col.source()
			}
			if s, ok := results[c.Name]; ok {
				cs.Ran, cs.Success, cs.Duration, cs.Samples, cs.Dropped = true, s.Success, s.Duration, s.Samples, s.Dropped
				if s.Err != nil {
					cs.Error = s.Err.Error()
				}
			}
			js.Collectors = append(js.Collectors, cs)
		}
		out = append(out, js)
	}
	return out
}

// Ready reports whether the agent is doing its job: a config is loaded, its
// plugins compiled (New succeeded), Run has started, and no job's pushes
// have been failing for longer than maxFailing. The reasons name the jobs.
func (a *Agent) Ready(maxFailing time.Duration) (bool, []string) {
	a.mu.Lock()
	running := a.sched != nil
	a.mu.Unlock()
	if !running {
		return false, []string{"the scheduler is not running (starting or shutting down)"}
	}
	var reasons []string
	now := time.Now()
	for _, js := range a.Status() {
		if !js.FailingSince.IsZero() && now.Sub(js.FailingSince) > maxFailing {
			reasons = append(reasons, fmt.Sprintf("job %q: pushes failing for %s: %s", js.Name, now.Sub(js.FailingSince).Round(time.Second), js.LastPushError))
		}
	}
	sort.Strings(reasons)
	return len(reasons) == 0, reasons
}
