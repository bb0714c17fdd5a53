package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushagent/pushagent/agent/httpplugin"
	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/agent/wasmhost"
)

// selfMetrics are the agent's own series, served on /metrics: every job
// and collector run is visible even when the gateway is not.
type selfMetrics struct {
	runs              *prometheus.CounterVec
	collectorRuns     *prometheus.CounterVec
	collectorFailures *prometheus.CounterVec
	collectorDuration *prometheus.HistogramVec
	collectorSamples  *prometheus.GaugeVec
	pushes            *prometheus.CounterVec
	pushFailures      *prometheus.CounterVec
	pushDuration      *prometheus.HistogramVec
	lastPush          *prometheus.GaugeVec
	expired           *prometheus.CounterVec
	collectorLastOK   *prometheus.GaugeVec
	pushAttempts      *prometheus.CounterVec
	skipped           *prometheus.CounterVec
}

func newSelfMetrics(reg prometheus.Registerer) *selfMetrics {
	m := &selfMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_job_runs_total", Help: "Runs of each job started.",
		}, []string{"job"}),
		collectorRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_collector_runs_total", Help: "Collector runs.",
		}, []string{"job", "collector"}),
		collectorFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_collector_failures_total", Help: "Collector runs that failed, by reason: timeout, trap, exit, memory, output_too_large, bad_output, http, other.",
		}, []string{"job", "collector", "reason"}),
		collectorDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pushagent_collector_run_duration_seconds", Help: "Duration of collector runs.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}, []string{"job", "collector"}),
		collectorSamples: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pushagent_collector_last_samples", Help: "Series the collector contributed to its last push.",
		}, []string{"job", "collector"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_pushes_total", Help: "Pushes to the gateway.",
		}, []string{"job"}),
		pushFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_push_failures_total", Help: "Failed pushes by reason (http_<code>, timeout, network, encode).",
		}, []string{"job", "reason"}),
		pushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pushagent_push_duration_seconds", Help: "Duration of pushes, retries included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"job"}),
		lastPush: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pushagent_last_successful_push_timestamp_seconds", Help: "When the job last pushed successfully.",
		}, []string{"job"}),
		collectorLastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pushagent_collector_last_success_timestamp_seconds", Help: "When the collector last ran successfully.",
		}, []string{"job", "collector"}),
		pushAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_push_attempts_total", Help: "HTTP requests made to push (retries included).",
		}, []string{"job"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_job_skipped_runs_total", Help: "Runs not started because the previous run of the job was still going.",
		}, []string{"job"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_expired_groups_total", Help: "Groups of the job deleted from the gateway because no replica pushed to them for expire_after.",
		}, []string{"job"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.collectorRuns, m.collectorFailures, m.collectorDuration, m.collectorSamples,
			m.pushes, m.pushFailures, m.pushDuration, m.lastPush, m.expired, m.collectorLastOK, m.pushAttempts, m.skipped)
	}
	return m
}

// forget drops the series of a job removed by a reload, so /metrics does
// not report it forever.
func (m *selfMetrics) forget(job string) {
	match := prometheus.Labels{"job": job}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.runs, m.collectorRuns, m.collectorFailures, m.collectorDuration, m.collectorSamples, m.pushes,
		m.pushFailures, m.pushDuration, m.lastPush, m.expired, m.collectorLastOK, m.pushAttempts, m.skipped,
	} {
		v.DeletePartialMatch(match)
	}
}

func (m *selfMetrics) observeCollector(job string, st merge.Status) {
	m.collectorRuns.WithLabelValues(job, st.Collector).Inc()
	if st.Success {
		m.collectorLastOK.WithLabelValues(job, st.Collector).SetToCurrentTime()
	} else {
		m.collectorFailures.WithLabelValues(job, st.Collector, failureReason(st.Err)).Inc()
	}
	m.collectorDuration.WithLabelValues(job, st.Collector).Observe(st.Duration.Seconds())
	m.collectorSamples.WithLabelValues(job, st.Collector).Set(float64(st.Samples))
}

// observePush counts one push; reason classifies a failed one (the
// output's own classification).
func (m *selfMetrics) observePush(job, reason string, err error, took time.Duration) {
	m.pushes.WithLabelValues(job).Inc()
	m.pushDuration.WithLabelValues(job).Observe(took.Seconds())
	if err == nil {
		m.lastPush.WithLabelValues(job).SetToCurrentTime()
		return
	}
	m.pushFailures.WithLabelValues(job, reason).Inc()
}

// failureReason classifies a collector failure for the reason label, by
// the error kinds of wasmhost, merge and httpplugin (never by message text,
// which holds user-chosen names).
func failureReason(err error) string {
	switch {
	case err == nil:
		return "other"
	case errors.Is(err, wasmhost.ErrOutOfMemory):
		return "memory"
	case errors.Is(err, wasmhost.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, wasmhost.ErrOutputTooLarge):
		return "output_too_large"
	case errors.Is(err, merge.ErrBadOutput):
		return "bad_output"
	case errors.Is(err, wasmhost.ErrTrap):
		return "trap"
	case errors.Is(err, wasmhost.ErrExit):
		return "exit"
	case errors.Is(err, httpplugin.ErrHTTP):
		return "http"
	}
	return "other"
}

// pluginCollector reports the compiled plugins at scrape time: compile
// time, warm instances and their memory.
type pluginCollector struct {
	a                                 *Agent
	compile, warm, memoryPgs, created *prometheus.Desc
}

func newPluginCollector(a *Agent) *pluginCollector {
	return &pluginCollector{
		a:         a,
		compile:   prometheus.NewDesc("pushagent_plugin_compile_seconds", "How long compiling the plugin took (short when it came from the compilation cache).", []string{"plugin"}, nil),
		warm:      prometheus.NewDesc("pushagent_plugin_warm_instances", "Idle reactor instances kept warm for the plugin.", []string{"plugin"}, nil),
		memoryPgs: prometheus.NewDesc("pushagent_plugin_memory_pages", "Wasm memory pages (64 KiB) held by the plugin's warm instances.", []string{"plugin"}, nil),
		created:   prometheus.NewDesc("pushagent_plugin_instances_created_total", "Instances of the plugin created: one per run for a command; for a reactor, a rate above zero means instances are being replaced (traps, timeouts).", []string{"plugin"}, nil),
	}
}

func (c *pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.compile
	ch <- c.warm
	ch <- c.memoryPgs
	ch <- c.created
}

func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.cur.Load()
	if st == nil {
		return // scraped while New is still loading plugins
	}
	seen := map[*wasmhost.Plugin]bool{}
	for _, j := range st.jobs {
		for _, col := range j.collectors {
			w, ok := col.(*wasmCollector)
			if !ok || seen[w.plugin] {
				continue
			}
			p := w.plugin
			seen[p] = true
			// A plugin is compiled once per memory limit; the label says which.
			name := fmt.Sprintf("%s@%dMiB", filepath.Base(p.Path()), uint64(p.Pages())/16)
			warm, pages := p.Warm()
			ch <- prometheus.MustNewConstMetric(c.compile, prometheus.GaugeValue, p.CompileTime.Seconds(), name)
			ch <- prometheus.MustNewConstMetric(c.warm, prometheus.GaugeValue, float64(warm), name)
			ch <- prometheus.MustNewConstMetric(c.memoryPgs, prometheus.GaugeValue, float64(pages), name)
			ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(p.Created()), name)
		}
	}
}
