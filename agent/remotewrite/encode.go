package remotewrite

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pushagent/pushagent/agent/series"
)

// EncodeBatch builds the body of a job's batch as one remote-write 1.0
// request, written straight from the batch: each sample a series with one
// sample, and each family's metadata (type, help, unit) as Prometheus
// sends it. job and the grouping labels are added to every series (a
// sample's own label of the same name loses, as at the Pushgateway);
// labels with an empty value are left out, as Prometheus reads them as
// absent. A histogram without a +Inf bucket gets one (its count), as the
// Pushgateway exposes it. A sample without its own timestamp gets at, the
// collection time.
//
// The bytes are those prompb's Marshal writes for the same WriteRequest
// (TestEncodeBatchIsPrompb); building the request's []prompb.TimeSeries
// first cost as much again as the marshalling, most of it in the garbage
// collector's write barriers over a million label headers.
func EncodeBatch(b *series.Batch, job string, grouping map[string]string, at time.Time) (body []byte, samples int, oldest int64) {
	ts := at.UnixMilli()
	// The run's own labels, sorted, merged into each series' sorted labels.
	own := runLabels(job, grouping)
	// A sample's label of an own name loses: own holds every name with a
	// non-empty grouping value, and "job".
	isOwn := func(name string) bool {
		for _, o := range own {
			if o.Name == name {
				return true
			}
		}
		return false
	}

	missing := missingInf(b)
	// Room for every series without growing: its labels, their tags and
	// lengths, the run's labels and the sample.
	size := 0
	for i := range b.Samples {
		size += int(b.Samples[i].Labels.ByteSize())
	}
	for _, o := range own {
		size += (len(o.Name) + len(o.Value) + 8) * len(b.Samples)
	}
	rawp := rawBuffers.Get().(*[]byte)
	defer rawBuffers.Put(rawp)
	raw := slices.Grow((*rawp)[:0], 2*size+48*(len(b.Samples)+len(missing))+len(b.Families)*128)
	defer func() { *rawp = raw[:0] }()
	ownSize := 0
	for _, l := range own {
		ownSize += sizeTag + sizeLabel(l)
	}
	oldest = math.MaxInt64
	writeLabel := func(l labels.Label) {
		raw = protowire.AppendTag(raw, 1, protowire.BytesType) // TimeSeries.labels
		raw = protowire.AppendVarint(raw, uint64(sizeString(l.Name)+sizeString(l.Value)))
		raw = appendString(raw, 1, l.Name)
		raw = appendString(raw, 2, l.Value)
	}
	add := func(sl labels.Labels, v float64, t int64) {
		// Two passes over the labels, one to size the series, one to
		// write it, the run's own labels merged in by name.
		n := ownSize
		sl.Range(func(l labels.Label) {
			if l.Value != "" && !isOwn(l.Name) {
				n += sizeTag + sizeLabel(l)
			}
		})
		sn := sizeSample(v, t)
		n += sizeTag + protowire.SizeVarint(uint64(sn)) + sn
		raw = protowire.AppendTag(raw, 1, protowire.BytesType) // WriteRequest.timeseries
		raw = protowire.AppendVarint(raw, uint64(n))
		j := 0
		sl.Range(func(l labels.Label) {
			if l.Value == "" || isOwn(l.Name) {
				return
			}
			for j < len(own) && own[j].Name < l.Name {
				writeLabel(own[j])
				j++
			}
			writeLabel(l)
		})
		for _, l := range own[j:] {
			writeLabel(l)
		}
		raw = protowire.AppendTag(raw, 2, protowire.BytesType) // TimeSeries.samples
		raw = protowire.AppendVarint(raw, uint64(sn))
		if v != 0 {
			raw = protowire.AppendTag(raw, 1, protowire.Fixed64Type)
			raw = protowire.AppendFixed64(raw, math.Float64bits(v))
		}
		if t != 0 {
			raw = protowire.AppendTag(raw, 2, protowire.VarintType)
			raw = protowire.AppendVarint(raw, uint64(t))
		}
		samples++
		oldest = min(oldest, t)
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
	for _, f := range b.Families {
		m := prompb.MetricMetadata{Type: prompb.FromMetadataType(f.Type), MetricFamilyName: f.Name, Help: f.Help, Unit: f.Unit}
		raw = protowire.AppendTag(raw, 3, protowire.BytesType) // WriteRequest.metadata
		raw = protowire.AppendVarint(raw, uint64(m.Size()))
		raw, _ = appendMarshal(raw, &m)
	}
	if samples == 0 {
		oldest = 0
	}
	return snappy.Encode(nil, raw), samples, oldest
}

// rawBuffers keeps the unsnappied requests' buffers between runs: a
// 10,000-series request is a megabyte, zeroed and faulted in anew each run
// otherwise. Only the snappy body leaves EncodeBatch.
var rawBuffers = sync.Pool{New: func() any { return new([]byte) }}

const sizeTag = 1 // every tag here is a field number below 16

func sizeString(s string) int {
	if s == "" {
		return 0
	}
	return sizeTag + protowire.SizeBytes(len(s))
}

// sizeLabel is a Label message's size with its length prefix.
func sizeLabel(l labels.Label) int {
	n := sizeString(l.Name) + sizeString(l.Value)
	return protowire.SizeVarint(uint64(n)) + n
}

func sizeSample(v float64, t int64) int {
	n := 0
	if v != 0 {
		n += sizeTag + 8
	}
	if t != 0 {
		n += sizeTag + protowire.SizeVarint(uint64(t))
	}
	return n
}

// appendString writes a string field, left out when empty (proto3).
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMarshal appends a gogo message's encoding.
func appendMarshal(b []byte, m interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}) ([]byte, error) {
	n := m.Size()
	b = slices.Grow(b, n)[:len(b)+n]
	_, err := m.MarshalToSizedBuffer(b[len(b)-n:])
	return b, err
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
