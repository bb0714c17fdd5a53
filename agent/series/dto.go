package series

import (
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/proto"
)

// DTOType is the client_model type of a family type.
func DTOType(t model.MetricType) dto.MetricType {
	switch t {
	case model.MetricTypeCounter:
		return dto.MetricType_COUNTER
	case model.MetricTypeGauge:
		return dto.MetricType_GAUGE
	case model.MetricTypeSummary:
		return dto.MetricType_SUMMARY
	case model.MetricTypeHistogram:
		return dto.MetricType_HISTOGRAM
	case model.MetricTypeGaugeHistogram:
		return dto.MetricType_GAUGE_HISTOGRAM
	}
	return dto.MetricType_UNTYPED
}

// Series is the number of series as the Pushgateway and series_limit count
// them: a histogram or summary (its buckets or quantiles, _sum and _count)
// is one. Every histogram and summary Parse makes has one _count sample,
// which is what is counted of it.
func (b *Batch) Series() int {
	n := 0
	for i := range b.Samples {
		if b.IsSeriesHead(&b.Samples[i]) {
			n++
		}
	}
	return n
}

// IsSeriesHead is whether s is the one sample of its series that counts it
// (see Series): any sample of a counter, gauge or untyped family, the
// _count sample of a histogram or summary.
func (b *Batch) IsSeriesHead(s *Sample) bool {
	f := &b.Families[s.Family]
	switch f.Type {
	case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram, model.MetricTypeSummary:
		name := s.Labels.Get(model.MetricNameLabel)
		return len(name) == len(f.Name)+6 && name[len(f.Name):] == "_count" && name[:len(f.Name)] == f.Name
	}
	return true
}

// DTOOptions says what MetricFamilies leaves out.
type DTOOptions struct {
	// NoTimestamps leaves sample timestamps out.
	NoTimestamps bool
	// Skip, when set, leaves out the families it returns true for.
	Skip func(f *Family) bool
}

// MetricFamilies is the batch in client_model's shape, as expfmt's text
// parser makes it of the same text: a histogram's or summary's samples
// become one Metric, counts are integers where they are whole (a
// histogram's are all floats if one is not), and label pairs are in label
// name order. It is what the Pushgateway's protobuf body is written from.
func (b *Batch) MetricFamilies(o DTOOptions) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(b.Families))
	i := 0
	for fi := range b.Families {
		f := &b.Families[fi]
		start := i
		for i < len(b.Samples) && int(b.Samples[i].Family) == fi {
			i++
		}
		if start == i || (o.Skip != nil && o.Skip(f)) {
			continue
		}
		mf := &dto.MetricFamily{Name: proto.String(f.Name), Type: DTOType(f.Type).Enum()}
		if f.Help != "" {
			mf.Help = proto.String(f.Help)
		}
		samples := b.Samples[start:i]
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM, dto.MetricType_SUMMARY:
			mf.Metric = groupMetrics(f, mf.GetType(), samples, o)
		default:
			mf.Metric = make([]*dto.Metric, 0, len(samples))
			for j := range samples {
				s := &samples[j]
				m := &dto.Metric{Label: labelPairs(s.Labels, "")}
				v := proto.Float64(s.Value)
				switch mf.GetType() {
				case dto.MetricType_COUNTER:
					m.Counter = &dto.Counter{Value: v}
				case dto.MetricType_GAUGE:
					m.Gauge = &dto.Gauge{Value: v}
				default:
					m.Untyped = &dto.Untyped{Value: v}
				}
				if s.T != 0 && !o.NoTimestamps {
					m.TimestampMs = proto.Int64(s.T)
				}
				mf.Metric = append(mf.Metric, m)
			}
		}
		out = append(out, mf)
	}
	return out
}

func labelPairs(ls labels.Labels, skip string) []*dto.LabelPair {
	n := ls.Len() - 1
	if skip != "" && ls.Has(skip) {
		n--
	}
	if n <= 0 {
		return nil
	}
	pairs := make([]*dto.LabelPair, 0, n)
	ls.Range(func(l labels.Label) {
		if l.Name != model.MetricNameLabel && l.Name != skip {
			pairs = append(pairs, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
		}
	})
	return pairs
}

// groupMetrics makes one Metric per histogram or summary of a family's
// samples, in the order they first appear.
func groupMetrics(f *Family, t dto.MetricType, samples []Sample, o DTOOptions) []*dto.Metric {
	special := model.QuantileLabel
	if t != dto.MetricType_SUMMARY {
		special = model.BucketLabel
	}
	bucket, sum, count := f.Name+"_bucket", f.Name+"_sum", f.Name+"_count"
	byKey := map[string]*dto.Metric{}
	var out []*dto.Metric
	var key []byte
	for j := range samples {
		s := &samples[j]
		name := s.Labels.Get(model.MetricNameLabel)
		key = key[:0]
		s.Labels.Range(func(l labels.Label) {
			if l.Name != model.MetricNameLabel && l.Name != special {
				key = append(append(append(append(key, l.Name...), 0xff), l.Value...), 0xfe)
			}
		})
		m := byKey[string(key)]
		if m == nil {
			m = &dto.Metric{Label: labelPairs(s.Labels, special)}
			if t == dto.MetricType_SUMMARY {
				m.Summary = &dto.Summary{}
			} else {
				m.Histogram = &dto.Histogram{}
			}
			byKey[string(key)] = m
			out = append(out, m)
		}
		if s.T != 0 && !o.NoTimestamps {
			m.TimestampMs = proto.Int64(s.T)
		}
		v := s.Value
		switch {
		case t == dto.MetricType_SUMMARY && name == count:
			m.Summary.SampleCount = proto.Uint64(uint64(v))
		case t == dto.MetricType_SUMMARY && name == sum:
			m.Summary.SampleSum = proto.Float64(v)
		case t == dto.MetricType_SUMMARY && name == f.Name && s.Labels.Has(special):
			q, _ := strconv.ParseFloat(s.Labels.Get(special), 64)
			m.Summary.Quantile = append(m.Summary.Quantile, &dto.Quantile{Quantile: proto.Float64(q), Value: proto.Float64(v)})
		case t == dto.MetricType_SUMMARY:
		case name == count:
			if u := uint64(v); v == float64(u) {
				m.Histogram.SampleCount = proto.Uint64(u)
			} else {
				m.Histogram.SampleCountFloat = proto.Float64(v)
			}
		case name == sum:
			m.Histogram.SampleSum = proto.Float64(v)
		case name == bucket && s.Labels.Has(special):
			le, _ := strconv.ParseFloat(s.Labels.Get(special), 64)
			bk := &dto.Bucket{UpperBound: proto.Float64(le)}
			if u := uint64(v); v == float64(u) {
				bk.CumulativeCount = proto.Uint64(u)
			} else {
				bk.CumulativeCountFloat = proto.Float64(v)
			}
			m.Histogram.Bucket = append(m.Histogram.Bucket, bk)
		}
	}
	if t != dto.MetricType_SUMMARY {
		for _, m := range out {
			floatCounts(m.Histogram)
		}
	}
	return out
}

// floatCounts makes a histogram's counts all floats when one is, as
// expfmt's parser does.
func floatCounts(h *dto.Histogram) {
	anyFloat := h.GetSampleCountFloat() != 0
	for _, b := range h.Bucket {
		anyFloat = anyFloat || b.GetCumulativeCountFloat() != 0
	}
	if !anyFloat {
		return
	}
	if h.GetSampleCountFloat() == 0 {
		h.SampleCountFloat = proto.Float64(float64(h.GetSampleCount()))
		h.SampleCount = nil
	}
	for _, b := range h.Bucket {
		if b.GetCumulativeCountFloat() == 0 {
			b.CumulativeCountFloat = proto.Float64(float64(b.GetCumulativeCount()))
			b.CumulativeCount = nil
		}
	}
}
