package agent

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/merge"
)

// JobStatus is what the status page and /readyz show of a job. It holds no
// secret: grouping values and error messages only (push errors are
// scrubbed of credentials by the outputs).
type JobStatus struct {
	Name     string
	Schedule string // "every 15s ±2s" or the cron expression
	Method   string
	Grouping map[string]string
	NextRun  time.Time // zero before Run or for a removed job

	Runs, Skipped uint64 // runs started and skipped, as the scheduler counts them

	RunStatus // what the job's runs left, owned by its record
}

// RunStatus is the part of a job's status its runs write. The job's record
// holds the one copy; Status hands out snapshots of it.
type RunStatus struct {
	Running      bool
	LastRun      time.Time // start of the last finished run
	LastDuration time.Duration
	Outputs      []PushStatus // one per output of the job, in name order
	Collectors   []CollectorStatus
}

// PushStatus is a job's last push to one output.
type PushStatus struct {
	Output, Kind, URL  string
	Pushed             bool // a push was attempted
	OK                 bool
	Error              string
	LastSuccessfulPush time.Time
	FailingSince       time.Time // first failed push of the current failing streak
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

// OutputStatus is an output's own state, beyond the pushes of the jobs:
// what a remote_write output's sender has delivered and holds.
type OutputStatus struct {
	Name, Kind, URL                            string
	SentSamples, FailedSamples, DroppedSamples uint64
	BufferBytes                                int64
	Oldest                                     time.Time // oldest sample not yet delivered; zero when none
	LastError                                  string
	FailingSince                               time.Time

	// BufferCorruptions counts the corrupt stretches of a remote_write
	// buffer skipped (a torn write, a flipped bit): their data is lost.
	BufferCorruptions uint64
}

// jobRecord is a job's RunStatus, updated by its runs.
type jobRecord struct {
	mu sync.Mutex
	st RunStatus
}

func newJobRecord(j *job, outputs []string) *jobRecord {
	r := &jobRecord{}
	for i, c := range j.cfg.Collectors {
		cs := CollectorStatus{Name: c.Name, Plugin: c.Plugin}
		if col := j.collectors[i]; col != nil {
			cs.Plugin = col.source()
		}
		r.st.Collectors = append(r.st.Collectors, cs)
	}
	for _, name := range outputs {
		r.st.Outputs = append(r.st.Outputs, PushStatus{Output: name})
	}
	return r
}

// keepOutputs makes the record list the outputs names, in that order,
// keeping the results of those it had: a removed output's old failure
// must not keep the agent unready.
func (r *jobRecord) keepOutputs(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := make([]PushStatus, 0, len(names))
	for _, name := range names {
		p := PushStatus{Output: name}
		if i := slices.IndexFunc(r.st.Outputs, func(o PushStatus) bool { return o.Output == name }); i >= 0 {
			p = r.st.Outputs[i]
		}
		kept = append(kept, p)
	}
	r.st.Outputs = kept
}

func (r *jobRecord) start() {
	r.mu.Lock()
	r.st.Running = true
	r.mu.Unlock()
}

// collected records the collectors' results of a run.
func (r *jobRecord) collected(statuses []merge.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range statuses {
		for i := range r.st.Collectors {
			cs := &r.st.Collectors[i]
			if cs.Name != s.Collector {
				continue
			}
			cs.Ran, cs.Success, cs.Duration, cs.Samples, cs.Dropped, cs.Error = true, s.Success, s.Duration, s.Samples, s.Dropped, ""
			if s.Err != nil {
				cs.Error = s.Err.Error()
			}
		}
	}
}

// pushed records a push to one output.
func (r *jobRecord) pushed(name, kind, url string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.st.Outputs, func(p PushStatus) bool { return p.Output == name })
	if i < 0 {
		r.st.Outputs = append(r.st.Outputs, PushStatus{Output: name})
		i = len(r.st.Outputs) - 1
	}
	p := &r.st.Outputs[i]
	p.Kind, p.URL, p.Pushed, p.OK = kind, url, true, err == nil
	if err == nil {
		p.Error, p.LastSuccessfulPush, p.FailingSince = "", time.Now(), time.Time{}
		return
	}
	p.Error = err.Error()
	if p.FailingSince.IsZero() {
		p.FailingSince = time.Now()
	}
}

func (r *jobRecord) finish(start time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Running = false
	r.st.LastRun, r.st.LastDuration = start, time.Since(start)
}

func (r *jobRecord) snapshot() RunStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Outputs = slices.Clone(s.Outputs)
	s.Collectors = slices.Clone(s.Collectors)
	return s
}

// Status snapshots every job this agent runs, in config order.
func (a *Agent) Status() []JobStatus {
	st := a.cur.Load()
	a.mu.Lock()
	sched := a.sched
	a.mu.Unlock()
	out := make([]JobStatus, 0, len(st.jobs))
	for _, j := range st.jobs {
		js := JobStatus{
			Name:      j.cfg.Name,
			Schedule:  j.cfg.Schedule(),
			Method:    j.cfg.Method,
			Grouping:  j.cfg.Grouping,
			RunStatus: j.record.snapshot(),
		}
		if sched != nil {
			js.NextRun = sched.NextRun(j.cfg.Name)
			js.Runs, js.Skipped = sched.Stats(j.cfg.Name)
		}
		out = append(out, js)
	}
	return out
}

// Snapshot is everything the status page shows.
type Snapshot struct {
	Jobs       []JobStatus // the jobs this agent runs
	Outputs    []OutputStatus
	Shard      *config.Shard // nil without a shard
	Configured int           // jobs in the config, this agent's or not
	Reload     ReloadStatus  // the last load of the config
}

// Snapshot takes the status of the jobs and outputs together.
func (a *Agent) Snapshot() Snapshot {
	cfg := a.cur.Load().cfg
	return Snapshot{Jobs: a.Status(), Outputs: a.Outputs(), Shard: cfg.Shard, Configured: len(cfg.Jobs), Reload: a.LastReload()}
}

// Outputs snapshots every output's own state, in name order.
func (a *Agent) Outputs() []OutputStatus {
	st := a.cur.Load()
	var out []OutputStatus
	for _, o := range st.outputs {
		kind, url := o.out.describe()
		os := OutputStatus{Name: o.name, Kind: kind, URL: url}
		o.out.fill(&os)
		out = append(out, os)
	}
	return out
}

// Ready reports whether the agent is doing its job: a config is loaded, its
// plugins compiled (New succeeded), Run has started, and no output has
// been failing for longer than maxFailing, be it a job's pushes to it or
// its own sending. The reasons name the jobs and outputs.
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
		for _, p := range js.Outputs {
			if !p.FailingSince.IsZero() && now.Sub(p.FailingSince) > maxFailing {
				reasons = append(reasons, fmt.Sprintf("job %q output %q: pushes failing for %s: %s", js.Name, p.Output, now.Sub(p.FailingSince).Round(time.Second), p.Error))
			}
		}
	}
	for _, o := range a.Outputs() {
		if !o.FailingSince.IsZero() && now.Sub(o.FailingSince) > maxFailing {
			reasons = append(reasons, fmt.Sprintf("output %q: sending failing for %s (the buffer keeps the data): %s", o.Name, now.Sub(o.FailingSince).Round(time.Second), o.LastError))
		}
	}
	sort.Strings(reasons)
	return len(reasons) == 0, reasons
}
