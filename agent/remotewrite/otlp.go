package remotewrite

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pushagent/pushagent/agent/series"
)

// EncodeOTLP builds one run's OTLP/HTTP request from its batch, mapped as
// the OpenTelemetry specification's Prometheus and OpenMetrics
// compatibility section says (Prometheus metric points to OTLP):
//   - the run is one resource: job is service.name, the instance grouping
//     label service.instance.id, and the other grouping labels are
//     resource attributes under their own names;
//   - a family is one metric: its HELP the description, its UNIT the
//     unit; the name loses a counter's _total suffix and then a suffix
//     naming the unit;
//   - counters are cumulative monotonic sums; gauges, untyped (unknown)
//     and stateset families gauges; info families non-monotonic sums
//     without their _info suffix;
//   - histograms are explicit-bucket histograms (per-bucket counts, the
//     +Inf bucket implied), summaries summaries;
//   - an OpenMetrics _created sample is the start time of its series, not
//     a metric of its own;
//   - a gauge histogram has no OTLP counterpart that keeps its meaning:
//     each of its series is sent as a gauge under the series' own name.
//
// The series' labels, less __name__, le and quantile, are the data point's
// attributes; a sample's own label named like a run label is left out (the
// run's wins, as in every output). A sample without its own timestamp gets
// at, the collection time.
//
// The body is an ExportMetricsServiceRequest: it is built as the
// MetricsData message, which has the same fields and encoding (the OTLP
// protobuf says so), so that gRPC's generated service code is not linked.
func EncodeOTLP(b *series.Batch, job string, grouping map[string]string, at time.Time, compress bool) (Encoded, error) {
	e := otlpEncoders.Get().(*otlpEncoder)
	defer e.release()
	e.b, e.run, e.st, e.now, e.samples, e.oldest = b, runLabels(job, grouping), findStarts(b), at.UnixMilli(), 0, math.MaxInt64
	// Sized for the batch: at most one data point per sample and one
	// attribute per label (__name__'s place is the resource's).
	nl := len(e.run)
	for i := range b.Samples {
		nl += b.Samples[i].Labels.Len()
	}
	e.kvs.size(nl)
	e.anys.size(nl)
	e.strs.size(nl)
	e.numbers.size(len(b.Samples))
	e.doubles.size(len(b.Samples))
	if cap(e.attrs) < nl {
		e.attrs = make([]*commonpb.KeyValue, 0, nl)
	}
	scope := &metricspb.ScopeMetrics{}
	for lo := 0; lo < len(b.Samples); {
		hi := lo + 1
		for hi < len(b.Samples) && b.Samples[hi].Family == b.Samples[lo].Family {
			hi++
		}
		scope.Metrics = e.family(scope.Metrics, lo, hi)
		lo = hi
	}
	format := FormatOTLP
	if compress {
		format = FormatOTLPGzip
	}
	if e.samples == 0 {
		return Encoded{Format: format}, nil
	}
	data := &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{
		Resource:     &resourcepb.Resource{Attributes: e.resource()},
		ScopeMetrics: []*metricspb.ScopeMetrics{scope},
	}}}
	raw, err := proto.MarshalOptions{}.Marshal(data)
	if err != nil {
		return Encoded{}, err
	}
	body := raw
	if compress {
		if body, err = gzipped(raw); err != nil {
			return Encoded{}, err
		}
	}
	return Encoded{Format: format, Body: body, Samples: e.samples, Oldest: e.oldest}, nil
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// gzipped compresses at gzip's default level, with a pooled writer: a new
// one allocates about a megabyte of tables.
func gzipped(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(raw)/4 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&out)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// arena hands out values from chunks, so that a 10,000-series request
// makes a few allocations for its data points and attributes, not tens of
// thousands. A chunk is never moved, so the pointers stay valid.
type arena[T any] struct{ buf []T }

// size readies the arena for n values in one chunk, reusing the chunk of
// its last use when it is large enough (zeroed: a message must start
// empty).
func (a *arena[T]) size(n int) {
	if cap(a.buf) >= n {
		clear(a.buf)
		a.buf = a.buf[:0]
		return
	}
	a.buf = make([]T, 0, n)
}

func (a *arena[T]) new() *T {
	if len(a.buf) == cap(a.buf) {
		a.buf = make([]T, 0, min(max(64, 2*cap(a.buf)), 16384))
	}
	a.buf = a.buf[:len(a.buf)+1]
	return &a.buf[len(a.buf)-1]
}

// otlpEncoders keeps encoders, and the chunks their messages came from,
// between runs: the messages are garbage once marshalled, and reusing
// their memory spares the collector megabytes per 10,000-series run. The
// pool drops what it holds after two garbage collections, so a large run
// long ago keeps nothing.
var otlpEncoders = sync.Pool{New: func() any { return new(otlpEncoder) }}

// release returns e to the pool. Nothing may use the messages it made
// after this: the request is already marshalled.
func (e *otlpEncoder) release() {
	clear(e.attrs)
	e.attrs = e.attrs[:0]
	e.b, e.run, e.st = nil, nil, nil
	otlpEncoders.Put(e)
}

type otlpEncoder struct {
	b       *series.Batch
	run     []labels.Label
	st      *starts
	now     int64 // ms
	samples int
	oldest  int64

	kvs     arena[commonpb.KeyValue]
	anys    arena[commonpb.AnyValue]
	strs    arena[commonpb.AnyValue_StringValue]
	numbers arena[metricspb.NumberDataPoint]
	doubles arena[metricspb.NumberDataPoint_AsDouble]
	attrs   []*commonpb.KeyValue // backing array of the data points' attributes
}

func (e *otlpEncoder) kv(k, v string) *commonpb.KeyValue {
	s := e.strs.new()
	s.StringValue = v
	a := e.anys.new()
	a.Value = s
	kv := e.kvs.new()
	kv.Key, kv.Value = k, a
	return kv
}

// resource is the run's labels as resource attributes.
func (e *otlpEncoder) resource() []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, 0, len(e.run))
	for _, l := range e.run {
		switch l.Name {
		case model.JobLabel:
			out = append(out, e.kv("service.name", l.Value))
		case model.InstanceLabel:
			out = append(out, e.kv("service.instance.id", l.Value))
		default:
			out = append(out, e.kv(l.Name, l.Value))
		}
	}
	return out
}

// attributes is a series' labels as a data point's: less __name__, le
// and quantile, the run's labels (on the resource) and empty values.
func (e *otlpEncoder) attributes(ls labels.Labels) []*commonpb.KeyValue {
	if cap(e.attrs)-len(e.attrs) < ls.Len() {
		e.attrs = make([]*commonpb.KeyValue, 0, max(4096, 2*ls.Len()))
	}
	from := len(e.attrs)
	ls.Range(func(l labels.Label) {
		switch l.Name {
		case model.MetricNameLabel, model.BucketLabel, model.QuantileLabel:
			return
		}
		if l.Value == "" || e.isRunLabel(l.Name) {
			return
		}
		e.attrs = append(e.attrs, e.kv(l.Name, l.Value))
	})
	return e.attrs[from:len(e.attrs):len(e.attrs)]
}

func (e *otlpEncoder) isRunLabel(name string) bool {
	for _, l := range e.run {
		if l.Name == name {
			return true
		}
	}
	return false
}

// time is a sample's timestamp in ns, the run's when it has none.
func (e *otlpEncoder) time(s *series.Sample) uint64 {
	t := s.T
	if t == 0 {
		t = e.now
	}
	e.oldest = min(e.oldest, t)
	return uint64(t) * uint64(time.Millisecond)
}

func startNanos(ms int64) uint64 {
	if ms <= 0 {
		return 0
	}
	return uint64(ms) * uint64(time.Millisecond)
}

func (e *otlpEncoder) number(s *series.Sample, start int64) *metricspb.NumberDataPoint {
	e.samples++
	v := e.doubles.new()
	v.AsDouble = s.Value
	p := e.numbers.new()
	p.Attributes, p.TimeUnixNano, p.StartTimeUnixNano, p.Value = e.attributes(s.Labels), e.time(s), startNanos(start), v
	return p
}

// otlpName is a family's OTLP metric name: without the type's suffix,
// then without a suffix naming the unit.
func otlpName(f *series.Family) string {
	name := f.Name
	switch f.Type {
	case model.MetricTypeCounter:
		name = strings.TrimSuffix(name, "_total")
	case model.MetricTypeInfo:
		name = strings.TrimSuffix(name, "_info")
	}
	if f.Unit != "" {
		if n := strings.TrimSuffix(name, "_"+f.Unit); n != "" {
			name = n
		}
	}
	return name
}

// family appends the metrics of the family whose samples are b.Samples[lo:hi].
func (e *otlpEncoder) family(out []*metricspb.Metric, lo, hi int) []*metricspb.Metric {
	f := e.b.FamilyOf(&e.b.Samples[lo])
	switch f.Type {
	case model.MetricTypeCounter, model.MetricTypeInfo:
		return e.sum(out, f, lo, hi)
	case model.MetricTypeHistogram:
		return e.histogram(out, f, lo, hi)
	case model.MetricTypeSummary:
		return e.summary(out, f, lo, hi)
	}
	return e.gauges(out, f, lo, hi, nil)
}

// gauges sends each sample as a gauge point of the metric of its own name
// (one metric for a gauge family), except those keep says no to.
func (e *otlpEncoder) gauges(out []*metricspb.Metric, f *series.Family, lo, hi int, keep []bool) []*metricspb.Metric {
	var byName map[string]*metricspb.Gauge
	for i := lo; i < hi; i++ {
		if keep != nil && !keep[i-lo] {
			continue
		}
		if _, skip := e.st.of(e.b, i); skip {
			continue
		}
		s := &e.b.Samples[i]
		name := s.Labels.Get(model.MetricNameLabel)
		g := byName[name]
		if g == nil {
			if byName == nil {
				byName = map[string]*metricspb.Gauge{}
			}
			g = &metricspb.Gauge{DataPoints: make([]*metricspb.NumberDataPoint, 0, hi-i)}
			byName[name] = g
			mname := name
			if name == f.Name {
				mname = otlpName(f)
			}
			out = append(out, &metricspb.Metric{Name: mname, Description: f.Help, Unit: f.Unit, Data: &metricspb.Metric_Gauge{Gauge: g}})
		}
		g.DataPoints = append(g.DataPoints, e.number(s, 0))
	}
	return out
}

// sum sends a counter (monotonic) or info (not) family as a cumulative
// sum. Samples under another name than the family's are sent as gauges.
func (e *otlpEncoder) sum(out []*metricspb.Metric, f *series.Family, lo, hi int) []*metricspb.Metric {
	monotonic := f.Type == model.MetricTypeCounter
	base := otlpName(f)
	sum := &metricspb.Sum{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE, IsMonotonic: monotonic,
		DataPoints: make([]*metricspb.NumberDataPoint, 0, hi-lo)}
	var other []bool
	for i := lo; i < hi; i++ {
		start, skip := e.st.of(e.b, i)
		if skip {
			continue
		}
		s := &e.b.Samples[i]
		switch s.Labels.Get(model.MetricNameLabel) {
		case f.Name, base + "_total", base + "_info":
			sum.DataPoints = append(sum.DataPoints, e.number(s, start))
		default:
			if other == nil {
				other = make([]bool, hi-lo)
			}
			other[i-lo] = true
		}
	}
	m := &metricspb.Metric{Name: base, Description: f.Help, Unit: f.Unit, Data: &metricspb.Metric_Sum{Sum: sum}}
	return e.withGauges(out, f, lo, hi, m, len(sum.DataPoints), other)
}

// withGauges appends a family's own metric m, unless none of its samples
// made a point of it, then as gauges the samples marked in other, which
// were no part of it.
func (e *otlpEncoder) withGauges(out []*metricspb.Metric, f *series.Family, lo, hi int, m *metricspb.Metric, points int, other []bool) []*metricspb.Metric {
	if points > 0 {
		out = append(out, m)
	}
	if other != nil {
		out = e.gauges(out, f, lo, hi, other)
	}
	return out
}

// point is one histogram or summary series being put together from its
// samples.
type point struct {
	first  int // sample index, for attributes and time
	start  int64
	bounds []float64 // histogram: le; summary: quantile
	values []float64 // cumulative bucket counts; quantile values
	sum    float64
	count  float64
	hasSum bool
	hasCnt bool
}

// group collects the samples of a histogram or summary family into one
// point per series (labels less le and quantile), in order of first
// appearance. A sample is a bound (its le or quantile label, the label
// given) when named boundName, or the point's _sum or _count; samples that
// are no part of a point are marked in other.
func (e *otlpEncoder) group(f *series.Family, lo, hi int, boundName, label string) (points []*point, other []bool) {
	keys := map[string]*point{}
	sumName, countName := f.Name+"_sum", f.Name+"_count"
	part := func(name string) string {
		switch name {
		case boundName:
			return "bound"
		case sumName:
			return "sum"
		case countName:
			return "count"
		}
		return ""
	}
	var buf []byte
	for i := lo; i < hi; i++ {
		start, skip := e.st.of(e.b, i)
		if skip {
			continue
		}
		s := &e.b.Samples[i]
		kind := part(s.Labels.Get(model.MetricNameLabel))
		bound := math.NaN()
		if kind == "bound" {
			v, err := strconv.ParseFloat(s.Labels.Get(label), 64)
			if err != nil {
				kind = ""
			}
			bound = v
		}
		if kind == "" {
			if other == nil {
				other = make([]bool, hi-lo)
			}
			other[i-lo] = true
			continue
		}
		buf = buf[:0]
		s.Labels.Range(func(l labels.Label) {
			if l.Name != model.MetricNameLabel && l.Name != label && l.Value != "" {
				buf = append(append(append(append(buf, l.Name...), 0xff), l.Value...), 0xff)
			}
		})
		p := keys[string(buf)]
		if p == nil {
			p = &point{first: i, start: start}
			keys[string(buf)] = p
			points = append(points, p)
		}
		switch kind {
		case "bound":
			p.bounds = append(p.bounds, bound)
			p.values = append(p.values, s.Value)
		case "sum":
			p.sum, p.hasSum = s.Value, true
		case "count":
			p.count, p.hasCnt = s.Value, true
		}
	}
	return points, other
}

// sortBounds orders a point's bounds (and their values) ascending.
func (p *point) sortBounds() {
	idx := make([]int, len(p.bounds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case p.bounds[a] < p.bounds[b]:
			return -1
		case p.bounds[a] > p.bounds[b]:
			return 1
		}
		return 0
	})
	bounds, values := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		bounds[i], values[i] = p.bounds[j], p.values[j]
	}
	p.bounds, p.values = bounds, values
}

func (e *otlpEncoder) histogram(out []*metricspb.Metric, f *series.Family, lo, hi int) []*metricspb.Metric {
	points, other := e.group(f, lo, hi, f.Name+"_bucket", model.BucketLabel)
	h := &metricspb.Histogram{AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
		DataPoints: make([]*metricspb.HistogramDataPoint, 0, len(points))}
	for _, p := range points {
		p.sortBounds()
		s := &e.b.Samples[p.first]
		dp := &metricspb.HistogramDataPoint{Attributes: e.attributes(s.Labels), TimeUnixNano: e.time(s), StartTimeUnixNano: startNanos(p.start)}
		// Prometheus' buckets are cumulative and end with +Inf; OTLP's
		// hold their own counts, with +Inf implied after the last bound.
		var prev float64
		total := p.count
		for i, b := range p.bounds {
			if math.IsInf(b, +1) {
				if !p.hasCnt {
					total = p.values[i]
				}
				break
			}
			dp.ExplicitBounds = append(dp.ExplicitBounds, b)
			dp.BucketCounts = append(dp.BucketCounts, uint64(max(0, p.values[i]-prev)))
			prev = p.values[i]
		}
		dp.BucketCounts = append(dp.BucketCounts, uint64(max(0, total-prev)))
		dp.Count = uint64(max(0, total))
		if p.hasSum {
			dp.Sum = proto.Float64(p.sum)
		}
		// As many samples as the receiver will store: the buckets, +Inf,
		// _sum and _count.
		e.samples += len(dp.ExplicitBounds) + 3
		h.DataPoints = append(h.DataPoints, dp)
	}
	m := &metricspb.Metric{Name: otlpName(f), Description: f.Help, Unit: f.Unit, Data: &metricspb.Metric_Histogram{Histogram: h}}
	return e.withGauges(out, f, lo, hi, m, len(h.DataPoints), other)
}

func (e *otlpEncoder) summary(out []*metricspb.Metric, f *series.Family, lo, hi int) []*metricspb.Metric {
	points, other := e.group(f, lo, hi, f.Name, model.QuantileLabel)
	sm := &metricspb.Summary{DataPoints: make([]*metricspb.SummaryDataPoint, 0, len(points))}
	for _, p := range points {
		p.sortBounds()
		s := &e.b.Samples[p.first]
		dp := &metricspb.SummaryDataPoint{Attributes: e.attributes(s.Labels), TimeUnixNano: e.time(s), StartTimeUnixNano: startNanos(p.start),
			Count: uint64(max(0, p.count)), Sum: p.sum}
		for i, q := range p.bounds {
			dp.QuantileValues = append(dp.QuantileValues, &metricspb.SummaryDataPoint_ValueAtQuantile{Quantile: q, Value: p.values[i]})
		}
		e.samples += len(p.bounds) + 2
		sm.DataPoints = append(sm.DataPoints, dp)
	}
	m := &metricspb.Metric{Name: otlpName(f), Description: f.Help, Unit: f.Unit, Data: &metricspb.Metric_Summary{Summary: sm}}
	return e.withGauges(out, f, lo, hi, m, len(sm.DataPoints), other)
}
