package remotewrite

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/prompb"
)

// Series expands metric families into the series Prometheus stores for
// them, each with one sample: counters, gauges and untyped metrics under
// their name; a summary as name{quantile}, name_sum and name_count; a
// histogram as cumulative name_bucket{le} (with +Inf), name_sum and
// name_count. job and the grouping labels are added to every series (a
// sample's own label of the same name loses, as at the Pushgateway). A
// sample without its own timestamp gets at, the collection time.
func Series(fams []*dto.MetricFamily, job string, grouping map[string]string, at time.Time) []prompb.TimeSeries {
	ts := at.UnixMilli()
	n := 0
	for _, f := range fams {
		n += len(f.Metric)
	}
	out := make([]prompb.TimeSeries, 0, n)
	for _, f := range fams {
		name := f.GetName()
		for _, m := range f.Metric {
			t := ts
			if m.TimestampMs != nil {
				t = m.GetTimestampMs()
			}
			base := baseLabels(m, job, grouping)
			add := func(suffix string, v float64, extra ...prompb.Label) {
				ls := make([]prompb.Label, 0, len(base)+1+len(extra))
				ls = append(ls, prompb.Label{Name: "__name__", Value: name + suffix})
				ls = append(ls, base...)
				ls = append(ls, extra...)
				slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
				out = append(out, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Value: v, Timestamp: t}}})
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add("", m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add("", m.GetGauge().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.Quantile {
					add("", q.GetValue(), prompb.Label{Name: "quantile", Value: formatFloat(q.GetQuantile())})
				}
				add("_sum", s.GetSampleSum())
				add("_count", float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.Bucket {
					inf = inf || math.IsInf(b.GetUpperBound(), +1)
					add("_bucket", float64(b.GetCumulativeCount()), prompb.Label{Name: "le", Value: formatFloat(b.GetUpperBound())})
				}
				if !inf {
					add("_bucket", float64(h.GetSampleCount()), prompb.Label{Name: "le", Value: "+Inf"})
				}
				add("_sum", h.GetSampleSum())
				add("_count", float64(h.GetSampleCount()))
			default:
				add("", m.GetUntyped().GetValue())
			}
		}
	}
	return out
}

func baseLabels(m *dto.Metric, job string, grouping map[string]string) []prompb.Label {
	ls := make([]prompb.Label, 0, len(m.Label)+1+len(grouping))
	for _, lp := range m.Label {
		n := lp.GetName()
		if n == "job" || grouping[n] != "" || lp.GetValue() == "" {
			continue
		}
		ls = append(ls, prompb.Label{Name: n, Value: lp.GetValue()})
	}
	ls = append(ls, prompb.Label{Name: "job", Value: job})
	for k, v := range grouping {
		if k != "job" && v != "" {
			ls = append(ls, prompb.Label{Name: k, Value: v})
		}
	}
	return ls
}

// formatFloat writes bucket bounds and quantiles as Prometheus does, so
// that le="0.5" from a pushed histogram and from a scraped one match.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Encode builds the body of one remote-write 1.0 request: a snappy-
// compressed protobuf WriteRequest. It returns the body, the number of
// samples and the oldest sample time.
func Encode(series []prompb.TimeSeries) (body []byte, samples int, oldest int64, err error) {
	req := prompb.WriteRequest{Timeseries: series}
	raw, err := req.Marshal()
	if err != nil {
		return nil, 0, 0, err
	}
	oldest = math.MaxInt64
	for _, s := range series {
		for _, sm := range s.Samples {
			samples++
			oldest = min(oldest, sm.Timestamp)
		}
	}
	if samples == 0 {
		oldest = 0
	}
	return snappy.Encode(nil, raw), samples, oldest, nil
}
