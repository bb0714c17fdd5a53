package remotewrite

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/series"
)

// Request is a job's batch as one remote-write 1.0 request: each sample a
// series with one sample, and each family's metadata (type, help, unit)
// as Prometheus sends it. job and the grouping labels are added to every
// series (a sample's own label of the same name loses, as at the
// Pushgateway); labels with an empty value are left out, as Prometheus
// reads them as absent. A histogram without a +Inf bucket gets one (its
// count), as the Pushgateway exposes it. A sample without its own
// timestamp gets at, the collection time.
func Request(b *series.Batch, job string, grouping map[string]string, at time.Time) *prompb.WriteRequest {
	ts := at.UnixMilli()
	// The run's own labels, sorted, merged into each series' sorted labels.
	own := make([]prompb.Label, 0, 1+len(grouping))
	own = append(own, prompb.Label{Name: "job", Value: job})
	for k, v := range grouping {
		if k != "job" && v != "" {
			own = append(own, prompb.Label{Name: k, Value: v})
		}
	}
	slices.SortFunc(own, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
	isOwn := func(name string) bool { return name == "job" || grouping[name] != "" }

	n, nl := len(b.Samples), 0
	for i := range b.Samples {
		nl += b.Samples[i].Labels.Len()
	}
	missing := missingInf(b)
	n += len(missing)
	// One backing array for every series' labels and one for the samples:
	// three allocations for the whole request, not two per series.
	lbuf := make([]prompb.Label, 0, nl+n*len(own))
	sbuf := make([]prompb.Sample, n)
	req := &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, n)}
	add := func(ls labels.Labels, v float64, t int64) {
		start := len(lbuf)
		j := 0
		ls.Range(func(l labels.Label) {
			if l.Value == "" || isOwn(l.Name) {
				return
			}
			for j < len(own) && own[j].Name < l.Name {
				lbuf = append(lbuf, own[j])
				j++
			}
			lbuf = append(lbuf, prompb.Label{Name: l.Name, Value: l.Value})
		})
		lbuf = append(lbuf, own[j:]...)
		k := len(req.Timeseries)
		sbuf[k] = prompb.Sample{Value: v, Timestamp: t}
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: lbuf[start:len(lbuf):len(lbuf)], Samples: sbuf[k : k+1 : k+1]})
	}
	for i := range b.Samples {
		s := &b.Samples[i]
		t := s.T
		if t == 0 {
			t = ts
		}
		add(s.Labels, s.Value, t)
		if inf, ok := missing[int32(i)]; ok {
			add(inf, s.Value, t)
		}
	}
	req.Metadata = make([]prompb.MetricMetadata, 0, len(b.Families))
	for _, f := range b.Families {
		req.Metadata = append(req.Metadata, prompb.MetricMetadata{
			Type: prompb.FromMetadataType(f.Type), MetricFamilyName: f.Name, Help: f.Help, Unit: f.Unit,
		})
	}
	return req
}

// missingInf finds the histograms of b without a +Inf bucket: for each,
// the index of its _count sample and the labels of the bucket to add.
func missingInf(b *series.Batch) map[int32]labels.Labels {
	var out map[int32]labels.Labels
	var withInf map[string]bool
	for i := range b.Samples {
		s := &b.Samples[i]
		f := b.FamilyOf(s)
		if f.Type != model.MetricTypeHistogram && f.Type != model.MetricTypeGaugeHistogram {
			continue
		}
		if withInf == nil {
			withInf = map[string]bool{}
		}
		if le := s.Labels.Get(model.BucketLabel); le == "+Inf" && s.Labels.Get(model.MetricNameLabel) == f.Name+"_bucket" {
			withInf[groupKey(s.Labels)] = true
		}
	}
	for i := range b.Samples {
		s := &b.Samples[i]
		f := b.FamilyOf(s)
		if withInf == nil || (f.Type != model.MetricTypeHistogram && f.Type != model.MetricTypeGaugeHistogram) || !b.IsSeriesHead(s) || withInf[groupKey(s.Labels)] {
			continue
		}
		if out == nil {
			out = map[int32]labels.Labels{}
		}
		out[int32(i)] = labels.NewBuilder(s.Labels).Set(model.MetricNameLabel, f.Name+"_bucket").Set(model.BucketLabel, "+Inf").Labels()
	}
	return out
}

// groupKey is a histogram sample's labels but its name and le.
func groupKey(ls labels.Labels) string {
	return labels.NewBuilder(ls).Del(model.MetricNameLabel, model.BucketLabel).Labels().String()
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

// Encode builds the body of one remote-write 1.0 request of series alone.
func Encode(series []prompb.TimeSeries) (body []byte, samples int, oldest int64, err error) {
	return EncodeRequest(&prompb.WriteRequest{Timeseries: series})
}

// EncodeRequest builds the body of one remote-write 1.0 request: a
// snappy-compressed protobuf WriteRequest. It returns the body, the number
// of samples and the oldest sample time.
func EncodeRequest(req *prompb.WriteRequest) (body []byte, samples int, oldest int64, err error) {
	raw, err := req.Marshal()
	if err != nil {
		return nil, 0, 0, err
	}
	oldest = math.MaxInt64
	for _, s := range req.Timeseries {
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
