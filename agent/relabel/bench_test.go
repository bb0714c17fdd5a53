package relabel_test

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/relabel"
	"github.com/pushagent/pushagent/agent/series"
)

// benchBatch is a 10,000-series job: 100 gauge families of 100 series.
func benchBatch() *series.Batch {
	b := &series.Batch{}
	for f := range 100 {
		name := fmt.Sprintf("app_metric_%03d", f)
		b.Families = append(b.Families, series.Family{Name: name, Type: model.MetricTypeGauge})
		for s := range 100 {
			b.Samples = append(b.Samples, series.Sample{
				Labels: labels.FromStrings("__name__", name, "path", fmt.Sprintf("/api/v%d", s), "pod", "web-7d9f8"),
				Value:  float64(s), Family: int32(f),
			})
		}
	}
	return b
}

// BenchmarkOutput is an output's share of a run of 10,000 series: without
// rules (the baseline: nothing to do), with an external label, with a keep
// rule that keeps a tenth, and with a rule that copies a label.
func BenchmarkOutput(b *testing.B) {
	in := benchBatch()
	run := labels.FromStrings("job", "bench", "instance", "web-1")
	for _, bc := range []struct {
		name string
		w    config.WriteRules
	}{
		{"none", config.WriteRules{}},
		{"external_label", config.WriteRules{ExternalLabels: labels.FromStrings("cluster", "eu-1")}},
		{"keep_tenth", config.WriteRules{WriteRelabelConfigs: rules(b, "- {source_labels: [__name__], regex: 'app_metric_00.', action: keep}")}},
		{"copy_label", config.WriteRules{WriteRelabelConfigs: rules(b, "- {source_labels: [instance], target_label: host}")}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				relabel.Output(in, run, bc.w, nil)
			}
		})
		// The steady state: the job's series are those of the last run.
		b.Run(bc.name+"/cached", func(b *testing.B) {
			b.ReportAllocs()
			cache := relabel.NewCache()
			relabel.Output(in, run, bc.w, cache)
			for b.Loop() {
				relabel.Output(in, run, bc.w, cache)
			}
		})
	}
}
