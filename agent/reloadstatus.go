package agent

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushagent/pushagent/agent/config"
)

// ReloadStatus is the outcome of the last load of the config: the one at
// start, or the last reload, whichever came last. A failed reload leaves
// the config of LastSuccess running.
type ReloadStatus struct {
	Time        time.Time
	Initial     bool // the load at start, not a reload
	Success     bool
	LastSuccess time.Time
	// Problems are a failed reload's, one per line of its error: for an
	// invalid file, "schedules.yaml:7: jobs[0].every: …".
	Problems []string
	Result   ReloadResult // what a successful reload changed
}

// reloadRecord keeps the last ReloadStatus and the two series Prometheus
// itself exports for its config reloads, under the same names, so that
// alerts written for one fit the other.
type reloadRecord struct {
	mu sync.Mutex
	st ReloadStatus

	successful, successTime prometheus.Gauge
}

func newReloadRecord(reg prometheus.Registerer) *reloadRecord {
	r := &reloadRecord{
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pushagent_config_last_reload_successful", Help: "Whether the last configuration reload attempt was successful.",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pushagent_config_last_reload_success_timestamp_seconds", Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	if reg != nil {
		reg.MustRegister(r.successful, r.successTime)
	}
	return r
}

func (r *reloadRecord) record(at time.Time, initial bool, res ReloadResult, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = ReloadStatus{Time: at, Initial: initial, Success: err == nil, LastSuccess: r.st.LastSuccess, Result: res}
	if err != nil {
		r.st.Problems = problems(err)
		r.successful.Set(0)
		return
	}
	r.st.LastSuccess = at
	r.successful.Set(1)
	r.successTime.Set(float64(at.UnixNano()) / 1e9)
}

func (r *reloadRecord) snapshot() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Problems = slices.Clone(s.Problems)
	return s
}

// problems splits an error into the lines it reports: a config error has
// one problem per line, and so do the joined errors of plugins.
func problems(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// ReloadFile loads the config file at path and reloads it (see Reload).
// Whichever step fails, the old config keeps running and the failure is
// recorded for /metrics and the status page, with every problem.
func (a *Agent) ReloadFile(ctx context.Context, path string, opts config.Options) (ReloadResult, error) {
	cfg, err := config.Load(path, opts)
	if err != nil {
		a.reloads.record(a.clock().Now(), false, ReloadResult{}, err)
		return ReloadResult{}, err
	}
	return a.Reload(ctx, cfg)
}

// LastReload is the outcome of the last load of the config.
func (a *Agent) LastReload() ReloadStatus { return a.reloads.snapshot() }

// outputChanges fills in which outputs a reload from prev to next added,
// changed (reopened) and removed.
func (res *ReloadResult) outputChanges(prev, next *state) {
	for _, o := range next.outputs {
		switch old := prev.output(o.name); {
		case old == nil:
			res.OutputsAdded = append(res.OutputsAdded, o.name)
		case old != o:
			res.OutputsChanged = append(res.OutputsChanged, o.name)
		}
	}
	for _, o := range prev.outputs {
		if next.output(o.name) == nil {
			res.OutputsRemoved = append(res.OutputsRemoved, o.name)
		}
	}
}
