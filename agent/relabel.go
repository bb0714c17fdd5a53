package agent

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/push"
	"github.com/pushagent/pushagent/agent/relabel"
	"github.com/pushagent/pushagent/agent/series"
)

// relabelMetrics count what relabelling rules dropped: per job for the
// job's and collectors' relabel_configs, per job and output for an
// output's write_relabel_configs, so that a rule dropping more than meant
// shows where.
type relabelMetrics struct {
	job    *prometheus.CounterVec
	output *prometheus.CounterVec
}

func newRelabelMetrics(reg prometheus.Registerer) *relabelMetrics {
	m := &relabelMetrics{
		job: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_job_relabel_dropped_series_total",
			Help: "Series the job's and its collectors' relabel_configs dropped (or left unnamed, repeated, or in a family of another type).",
		}, []string{"job"}),
		output: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_output_relabel_dropped_series_total",
			Help: "Series of the job an output's write_relabel_configs dropped (or left unnamed, repeated, or in a family of another type).",
		}, []string{"job", "output"}),
	}
	if reg != nil {
		reg.MustRegister(m.job, m.output)
	}
	return m
}

func (m *relabelMetrics) forget(job string) {
	m.job.DeletePartialMatch(prometheus.Labels{"job": job})
	m.output.DeletePartialMatch(prometheus.Labels{"job": job})
}

// runLabels are the labels a run's outputs give every series of job j:
// job and the grouping labels. Relabelling rules of an output see them.
func runLabels(j config.Job) labels.Labels {
	b := labels.NewScratchBuilder(len(j.Grouping) + 1)
	b.Add("job", j.Name)
	for k, v := range j.Grouping {
		b.Add(k, v)
	}
	b.Sort()
	return b.Labels()
}

// reservedLabels are the label names a job's and collectors' rules must
// not leave on a series: job and the job's grouping labels.
func reservedLabels(j config.Job) []string {
	names := make([]string, 0, len(j.Grouping)+1)
	names = append(names, "job")
	for k := range j.Grouping {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// jobRules is a job's relabelling state: a cache per rule set (each
// collector's, the job's, each output's), so that a series the rules saw
// last run costs a lookup. A job is rebuilt when its config changes, and
// an output's cache is keyed by the output itself, which a reload that
// changes it replaces, so a cache never outlives its rules.
type jobRules struct {
	collectors []*relabel.Cache // parallel to the job's collectors; nil without rules
	job        *relabel.Cache

	mu      sync.Mutex
	outputs map[*namedOutput]*relabel.Cache
}

func newJobRules(jc config.Job) *jobRules {
	r := &jobRules{collectors: make([]*relabel.Cache, len(jc.Collectors)), outputs: map[*namedOutput]*relabel.Cache{}}
	for i, c := range jc.Collectors {
		if len(c.RelabelConfigs) > 0 {
			r.collectors[i] = relabel.NewCache()
		}
	}
	if len(jc.RelabelConfigs) > 0 {
		r.job = relabel.NewCache()
	}
	return r
}

// output is the cache of output o's rules for this job; outputs a reload
// replaced are forgotten here.
func (r *jobRules) output(o *namedOutput, current []*namedOutput) *relabel.Cache {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.outputs[o]
	if !ok {
		for old := range r.outputs {
			if !slices.Contains(current, old) {
				delete(r.outputs, old)
			}
		}
		c = relabel.NewCache()
		r.outputs[o] = c
	}
	return c
}

// isStatus says whether a family is one of the status series the merge
// adds (pushagent_collector_*): the job's rules leave them alone, as
// Prometheus' metric_relabel_configs leave up alone; outputs' rules see
// them.
func isStatus(f *series.Family) bool { return strings.HasPrefix(f.Name, "pushagent_collector_") }

// collectorRelabel is the hook the merge calls with collector i's parsed
// batch, before its series_limit and the merge rules; nil without rules.
func (a *Agent) collectorRelabel(j *job, i int) func(*series.Batch) *series.Batch {
	c := j.cfg.Collectors[i]
	if len(c.RelabelConfigs) == 0 {
		return nil
	}
	return func(b *series.Batch) *series.Batch {
		out, res := relabel.Series(b, c.RelabelConfigs, reservedLabels(j.cfg), j.rules.collectors[i], nil)
		a.metrics.relabel.countJob(j.cfg.Name, res, j.logger, c.Name)
		return out
	}
}

// jobRelabel applies the job's relabel_configs to its merged batch.
func (a *Agent) jobRelabel(j *job, b *series.Batch) *series.Batch {
	if len(j.cfg.RelabelConfigs) == 0 {
		return b
	}
	out, res := relabel.Series(b, j.cfg.RelabelConfigs, reservedLabels(j.cfg), j.rules.job, isStatus)
	a.metrics.relabel.countJob(j.cfg.Name, res, j.logger, "")
	return out
}

func (m *relabelMetrics) countJob(job string, res relabel.Result, log *slog.Logger, collector string) {
	if n := res.Lost(); n > 0 {
		m.job.WithLabelValues(job).Add(float64(n))
	}
	logLost(log, res, "collector", collector)
}

// forOutput is c as output o receives it: its batch after o's
// external_labels and write_relabel_configs. c is shared by every output
// of the run and is never changed; a changed view is a copy of c.
func (a *Agent) forOutput(st *state, o *namedOutput, j *job, c *Collection) *Collection {
	w := o.cfg.Rules()
	if len(w.WriteRelabelConfigs) == 0 && w.ExternalLabels.IsEmpty() {
		return c
	}
	view, res := relabel.Output(c.Batch, runLabels(j.cfg), w, j.rules.output(o, st.outputs))
	if n := res.Lost(); n > 0 {
		a.metrics.relabel.output.WithLabelValues(j.cfg.Name, o.name).Add(float64(n))
	}
	if res.RunLabels > 0 {
		j.logger.Warn("output rule: write_relabel_configs changed job or grouping labels, which stay the job's; the change was undone",
			"output", o.name, "series", res.RunLabels)
	}
	logLost(j.logger, res, "output", o.name)
	if view == c.Batch {
		return c
	}
	cc := *c
	cc.Batch = view
	return &cc
}

// OutputPreview is what one output would receive of a run, after its
// rules: what once prints.
type OutputPreview struct {
	Name, Kind, URL string
	// Families are the output's series in the text format's shape; for a
	// Pushgateway, without what the gateway refuses or writes itself.
	Families []*dto.MetricFamily
	// Dropped is how many series the output's rules dropped.
	Dropped int
}

// Preview is what each output of c's job would receive of c, in name
// order. It counts nothing and changes nothing.
func (a *Agent) Preview(c *Collection) ([]OutputPreview, error) {
	st := a.cur.Load()
	j := st.job(c.Job)
	if j == nil {
		return nil, fmt.Errorf("no job named %q in %s", c.Job, st.cfg.Path)
	}
	var out []OutputPreview
	for _, o := range st.outputsOf(j.cfg) {
		view, res := relabel.Output(c.Batch, runLabels(j.cfg), o.cfg.Rules(), nil)
		kind, url := o.out.describe()
		p := OutputPreview{Name: o.name, Kind: kind, URL: url, Dropped: res.Lost()}
		if kind == "pushgateway" {
			p.Families, _, _ = push.Families(view)
		} else {
			p.Families = view.MetricFamilies(series.DTOOptions{})
		}
		out = append(out, p)
	}
	return out, nil
}

// logLost warns of what rules dropped for a reason other than a keep or
// drop rule: a rule that unnames, repeats or retypes series is likely not
// what its author meant.
func logLost(log *slog.Logger, res relabel.Result, key, value string) {
	if res.Unnamed+res.Duplicates+res.Conflicts == 0 || log == nil {
		return
	}
	args := []any{"unnamed", res.Unnamed, "duplicates", res.Duplicates, "type_conflicts", res.Conflicts}
	if value != "" {
		args = append(args, key, value)
	}
	log.Warn("relabelling left series without a valid name, repeated, or renamed into a family of another type; they were dropped", args...)
}
