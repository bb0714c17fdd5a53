package agent

import (
	"math"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/series"
)

// runBatch is the run's samples as a series.Batch, the shape the remote
// write 2.0 and OTLP encoders read, expanded from its families as
// remotewrite.Series expands them (without job and grouping, which the
// encoders add).
func runBatch(c *Collection) *series.Batch {
	b := &series.Batch{Families: make([]series.Family, 0, len(c.Families))}
	var lb labels.ScratchBuilder
	for _, f := range c.Families {
		fi := int32(len(b.Families))
		b.Families = append(b.Families, series.Family{Name: f.GetName(), Type: familyType(f.GetType()), Help: f.GetHelp(), Unit: f.GetUnit()})
		for _, m := range f.Metric {
			add := func(name string, v float64, extra ...string) {
				lb.Reset()
				lb.Add(model.MetricNameLabel, name)
				for _, lp := range m.Label {
					lb.Add(lp.GetName(), lp.GetValue())
				}
				for i := 0; i+1 < len(extra); i += 2 {
					lb.Add(extra[i], extra[i+1])
				}
				lb.Sort()
				b.Samples = append(b.Samples, series.Sample{Labels: lb.Labels(), Value: v, T: m.GetTimestampMs(), Family: fi})
			}
			name := f.GetName()
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.GetGauge().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.Quantile {
					add(name, q.GetValue(), model.QuantileLabel, formatBound(q.GetQuantile()))
				}
				add(name+"_sum", s.GetSampleSum())
				add(name+"_count", float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, bk := range h.Bucket {
					inf = inf || math.IsInf(bk.GetUpperBound(), +1)
					add(name+"_bucket", float64(bk.GetCumulativeCount()), model.BucketLabel, formatBound(bk.GetUpperBound()))
				}
				if !inf {
					add(name+"_bucket", float64(h.GetSampleCount()), model.BucketLabel, "+Inf")
				}
				add(name+"_sum", h.GetSampleSum())
				add(name+"_count", float64(h.GetSampleCount()))
			default:
				add(name, m.GetUntyped().GetValue())
			}
		}
	}
	return b
}

func familyType(t dto.MetricType) model.MetricType {
	switch t {
	case dto.MetricType_COUNTER:
		return model.MetricTypeCounter
	case dto.MetricType_GAUGE:
		return model.MetricTypeGauge
	case dto.MetricType_SUMMARY:
		return model.MetricTypeSummary
	case dto.MetricType_HISTOGRAM:
		return model.MetricTypeHistogram
	case dto.MetricType_GAUGE_HISTOGRAM:
		return model.MetricTypeGaugeHistogram
	}
	return model.MetricTypeUnknown
}

func formatBound(f float64) string {
	if math.IsInf(f, +1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
