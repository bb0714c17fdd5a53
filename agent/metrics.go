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
	sendDuration      *prometheus.HistogramVec
	relabel           *relabelMetrics
}

func newSelfMetrics(reg prometheus.Registerer) *selfMetrics {
	m := &selfMetrics{
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
			Name: "pushagent_pushes_total", Help: "Pushes of each job to each output (for remote_write and otlp: runs written to its buffer).",
		}, []string{"job", "output"}),
		pushFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_push_failures_total", Help: "Failed pushes by reason (http_<code>, timeout, network, encode; buffer for remote_write and otlp).",
		}, []string{"job", "output", "reason"}),
		pushDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pushagent_push_duration_seconds", Help: "Duration of pushes, retries included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"job", "output"}),
		lastPush: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pushagent_last_successful_push_timestamp_seconds", Help: "When the job last pushed successfully to the output.",
		}, []string{"job", "output"}),
		collectorLastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pushagent_collector_last_success_timestamp_seconds", Help: "When the collector last ran successfully.",
		}, []string{"job", "collector"}),
		pushAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_push_attempts_total", Help: "HTTP requests made to push to a Pushgateway output (retries included).",
		}, []string{"job", "output"}),
		sendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pushagent_output_send_duration_seconds", Help: "Latency of each request of a remote_write or otlp output to its receiver.",
			Buckets: prometheus.DefBuckets,
		}, []string{"output"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_expired_groups_total", Help: "Groups of the job deleted from the gateway because no replica pushed to them for expire_after.",
		}, []string{"job"}),
	}
	m.relabel = newRelabelMetrics(reg)
	if reg != nil {
		reg.MustRegister(m.collectorRuns, m.collectorFailures, m.collectorDuration, m.collectorSamples,
			m.pushes, m.pushFailures, m.pushDuration, m.lastPush, m.expired, m.collectorLastOK, m.pushAttempts, m.sendDuration)
	}
	return m
}

// forget drops the series of a job removed by a reload, so /metrics does
// not report it forever.
func (m *selfMetrics) forget(job string) {
	match := prometheus.Labels{"job": job}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.collectorRuns, m.collectorFailures, m.collectorDuration, m.collectorSamples, m.pushes,
		m.pushFailures, m.pushDuration, m.lastPush, m.expired, m.collectorLastOK, m.pushAttempts,
	} {
		v.DeletePartialMatch(match)
	}
	m.relabel.forget(job)
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

// observePush counts one push of job to output; reason classifies a
// failed one (the output's own classification).
func (m *selfMetrics) observePush(job, output, reason string, err error, took time.Duration) {
	m.pushes.WithLabelValues(job, output).Inc()
	m.pushDuration.WithLabelValues(job, output).Observe(took.Seconds())
	if err == nil {
		m.lastPush.WithLabelValues(job, output).SetToCurrentTime()
		return
	}
	m.pushFailures.WithLabelValues(job, output, reason).Inc()
}

// stateCollector reports, at scrape time, what other parts own: the runs
// and skips the scheduler counts, which jobs this agent owns, and each
// output's own counts and buffer.
type stateCollector struct {
	a                      *Agent
	runs, skipped, owned   *prometheus.Desc
	sent, failed, dropped  *prometheus.Desc
	bufferBytes, oldestAge *prometheus.Desc
	corruptions            *prometheus.Desc
}

func newStateCollector(a *Agent) *stateCollector {
	return &stateCollector{
		a:           a,
		runs:        prometheus.NewDesc("pushagent_job_runs_total", "Runs of each job started (skipped runs are not counted).", []string{"job"}, nil),
		skipped:     prometheus.NewDesc("pushagent_job_skipped_runs_total", "Runs not started because the previous run of the job was still going.", []string{"job"}, nil),
		owned:       prometheus.NewDesc("pushagent_shard_owned_jobs", "Jobs this agent runs: all without a shard, else its share and the replicated ones.", nil, nil),
		sent:        prometheus.NewDesc("pushagent_output_samples_sent_total", "Samples the output delivered.", []string{"output"}, nil),
		failed:      prometheus.NewDesc("pushagent_output_samples_failed_total", "Samples the output failed to deliver: refused by the receiver (remote_write or otlp 4xx other than 429, dropped) or in a push that failed (pushgateway).", []string{"output"}, nil),
		dropped:     prometheus.NewDesc("pushagent_output_samples_dropped_total", "Samples a remote_write or otlp output dropped unsent because its buffer reached max_size (the oldest go first).", []string{"output"}, nil),
		bufferBytes: prometheus.NewDesc("pushagent_output_buffer_bytes", "Bytes in a remote_write or otlp output's disk buffer not yet delivered.", []string{"output"}, nil),
		oldestAge:   prometheus.NewDesc("pushagent_output_buffer_oldest_age_seconds", "Age of the oldest sample in a remote_write or otlp output's buffer not yet delivered; 0 when it is empty.", []string{"output"}, nil),
		corruptions: prometheus.NewDesc("pushagent_output_buffer_corruptions_total", "Corrupt stretches of a remote_write or otlp output's buffer skipped (a torn write, a flipped bit): the records in them are lost, those after them sent.", []string{"output"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.runs, c.skipped, c.owned, c.sent, c.failed, c.dropped, c.bufferBytes, c.oldestAge, c.corruptions} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.cur.Load()
	if st == nil {
		return
	}
	c.a.mu.Lock()
	sched := c.a.sched
	c.a.mu.Unlock()
	for _, j := range st.jobs {
		var runs, skipped uint64
		if sched != nil {
			runs, skipped = sched.Stats(j.cfg.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(runs), j.cfg.Name)
		ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(skipped), j.cfg.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.owned, prometheus.GaugeValue, float64(len(st.jobs)))
	now := time.Now()
	for _, o := range c.a.Outputs() {
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(o.SentSamples), o.Name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(o.FailedSamples), o.Name)
		if o.Kind != "remote_write" && o.Kind != "otlp" { // the outputs with a buffer
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(o.DroppedSamples), o.Name)
		ch <- prometheus.MustNewConstMetric(c.bufferBytes, prometheus.GaugeValue, float64(o.BufferBytes), o.Name)
		ch <- prometheus.MustNewConstMetric(c.corruptions, prometheus.CounterValue, float64(o.BufferCorruptions), o.Name)
		age := 0.0
		if !o.Oldest.IsZero() {
			age = max(0, now.Sub(o.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(c.oldestAge, prometheus.GaugeValue, age, o.Name)
	}
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
