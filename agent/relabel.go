package agent

import (
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/config"
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

// jobRelabel applies the job's relabel_configs to its merged batch and
// counts what they dropped.
func (m *relabelMetrics) jobRelabel(j config.Job, b *series.Batch, log *slog.Logger) *series.Batch {
	out, res := relabel.Series(b, j.RelabelConfigs, reservedLabels(j), nil)
	m.countJob(j.Name, res, log, "")
	return out
}

// collectorRelabel applies a collector's relabel_configs to its batch.
func (m *relabelMetrics) collectorRelabel(j config.Job, c config.Collector, b *series.Batch, log *slog.Logger) *series.Batch {
	out, res := relabel.Series(b, c.RelabelConfigs, reservedLabels(j), nil)
	m.countJob(j.Name, res, log, c.Name)
	return out
}

func (m *relabelMetrics) countJob(job string, res relabel.Result, log *slog.Logger, collector string) {
	if n := res.Lost(); n > 0 {
		m.job.WithLabelValues(job).Add(float64(n))
	}
	logLost(log, res, "collector", collector)
}

// outputView is what output o receives of a run of job j: the run's batch
// after o's external_labels and write_relabel_configs. b is shared by
// every output of the run and is never changed.
func (m *relabelMetrics) outputView(o *namedOutput, j config.Job, b *series.Batch, log *slog.Logger) *series.Batch {
	view, res := relabel.Output(b, runLabels(j), o.cfg.Rules(), nil)
	if n := res.Lost(); n > 0 {
		m.output.WithLabelValues(j.Name, o.name).Add(float64(n))
	}
	if res.RunLabels > 0 {
		log.Warn("output rule: write_relabel_configs changed job or grouping labels, which stay the job's; the change was undone",
			"output", o.name, "series", res.RunLabels)
	}
	logLost(log, res, "output", o.name)
	return view
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
