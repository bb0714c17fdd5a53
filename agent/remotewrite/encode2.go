package remotewrite

import (
	"math"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"

	"github.com/pushagent/pushagent/agent/series"
)

// EncodeV2 builds one run's remote write 2.0 request from its batch: the
// series with job and the grouping labels added (a sample's own label of
// the same name loses), their strings once each in the symbols table, each
// series with its family's metadata (type, help, unit), and the start
// (created) timestamp where an OpenMetrics _created sample gave one. A
// sample without its own timestamp gets at, the collection time. The body
// is snappy-compressed, as Prometheus sends it.
func EncodeV2(b *series.Batch, job string, grouping map[string]string, at time.Time) (Encoded, error) {
	run := runLabels(job, grouping)
	st := findStarts(b)
	symbols := writev2.NewSymbolTable()
	meta := make([]writev2.Metadata, len(b.Families))
	for i := range b.Families {
		f := &b.Families[i]
		meta[i] = writev2.Metadata{Type: metricTypeV2(f.Type), HelpRef: symbols.Symbolize(f.Help), UnitRef: symbols.Symbolize(f.Unit)}
	}
	ts := at.UnixMilli()
	missing := missingInf(b)
	n := len(b.Samples) + len(missing)
	out := make([]writev2.TimeSeries, 0, n)
	samples := make([]writev2.Sample, n)
	// One backing array for every series' label references; a series'
	// slice stays valid when a later append moves the array.
	refs := make([]uint32, 0, n*2*(len(run)+3))
	oldest := int64(math.MaxInt64)
	add := func(ls labels.Labels, v float64, t, start int64, fam int32) {
		from := len(refs)
		mergeLabels(ls, run, func(name, value string) {
			refs = append(refs, symbols.Symbolize(name), symbols.Symbolize(value))
		})
		samples[len(out)] = writev2.Sample{Value: v, Timestamp: t, StartTimestamp: start}
		out = append(out, writev2.TimeSeries{
			LabelsRefs: refs[from:len(refs):len(refs)],
			Samples:    samples[len(out) : len(out)+1],
			Metadata:   meta[fam],
		})
	}
	for i := range b.Samples {
		s := &b.Samples[i]
		start, skip := st.of(b, i)
		if skip {
			continue
		}
		t := s.T
		if t == 0 {
			t = ts
		}
		oldest = min(oldest, t)
		add(s.Labels, s.Value, t, start, s.Family)
		// A histogram without a +Inf bucket gets one (its count), as in
		// remote write 1.0 and at the Pushgateway.
		if inf, ok := missing[int32(i)]; ok {
			add(inf, s.Value, t, start, s.Family)
		}
	}
	if len(out) == 0 {
		return Encoded{Format: FormatRemoteWrite2}, nil
	}
	req := writev2.Request{Symbols: symbols.Symbols(), Timeseries: out}
	raw, err := req.OptimizedMarshal(nil)
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{Format: FormatRemoteWrite2, Body: snappy.Encode(nil, raw), Samples: len(out), Oldest: oldest}, nil
}

// metricTypeV2 is a family's type as remote write 2.0 names it; untyped
// and unknown families are METRIC_TYPE_UNSPECIFIED.
func metricTypeV2(t model.MetricType) writev2.Metadata_MetricType {
	switch t {
	case model.MetricTypeCounter:
		return writev2.Metadata_METRIC_TYPE_COUNTER
	case model.MetricTypeGauge:
		return writev2.Metadata_METRIC_TYPE_GAUGE
	case model.MetricTypeHistogram:
		return writev2.Metadata_METRIC_TYPE_HISTOGRAM
	case model.MetricTypeGaugeHistogram:
		return writev2.Metadata_METRIC_TYPE_GAUGEHISTOGRAM
	case model.MetricTypeSummary:
		return writev2.Metadata_METRIC_TYPE_SUMMARY
	case model.MetricTypeInfo:
		return writev2.Metadata_METRIC_TYPE_INFO
	case model.MetricTypeStateset:
		return writev2.Metadata_METRIC_TYPE_STATESET
	}
	return writev2.Metadata_METRIC_TYPE_UNSPECIFIED
}
