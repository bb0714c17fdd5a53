package agent

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushagent/pushagent/agent/merge"
	"github.com/pushagent/pushagent/agent/push"
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
			Name: "pushagent_collector_failures_total", Help: "Collector runs that failed (plugin error, timeout, bad output).",
		}, []string{"job", "collector"}),
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
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pushagent_expired_groups_total", Help: "Groups of the job deleted from the gateway because no replica pushed to them for expire_after.",
		}, []string{"job"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.collectorRuns, m.collectorFailures, m.collectorDuration, m.collectorSamples,
			m.pushes, m.pushFailures, m.pushDuration, m.lastPush, m.expired)
	}
	return m
}

func (m *selfMetrics) observeCollector(job string, st merge.Status) {
	m.collectorRuns.WithLabelValues(job, st.Collector).Inc()
	if !st.Success {
		m.collectorFailures.WithLabelValues(job, st.Collector).Inc()
	}
	m.collectorDuration.WithLabelValues(job, st.Collector).Observe(st.Duration.Seconds())
	m.collectorSamples.WithLabelValues(job, st.Collector).Set(float64(st.Samples))
}

func (m *selfMetrics) observePush(job string, err error, took time.Duration) {
	m.pushes.WithLabelValues(job).Inc()
	m.pushDuration.WithLabelValues(job).Observe(took.Seconds())
	if err == nil {
		m.lastPush.WithLabelValues(job).SetToCurrentTime()
		return
	}
	reason := "other"
	var perr *push.Error
	if errors.As(err, &perr) {
		reason = perr.Reason
	}
	m.pushFailures.WithLabelValues(job, reason).Inc()
}
