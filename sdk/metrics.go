package sdk

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
)

// The builders below make constant metrics: a plugin reports the values it
// read during this run, it does not keep state between runs. Each builder
// method takes its labels as name, value pairs:
//
//	cpu := c.Counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.")
//	cpu.Set(1234.5, "cpu", "0", "mode", "user")
//
// Mistakes (an invalid metric or label name, an odd number of label
// arguments, the same series twice) do not panic and are not returned from
// every call: they are collected, named by metric, and fail the run when the
// CollectFunc returns. A builder is a small value; copy it freely.

// Counter builds a counter family: a total that only goes up, such as
// seconds spent or requests served. Name it with a _total suffix.
type Counter struct{ b builder }

// Gauge builds a gauge family: a value that can go up and down.
type Gauge struct{ b builder }

// Untyped builds an untyped family, for values whose kind is unknown, such
// as metrics relayed from another system.
type Untyped struct{ b builder }

// Histogram builds a histogram family from bucket counts computed elsewhere.
type Histogram struct{ b builder }

// Summary builds a summary family from quantiles computed elsewhere.
type Summary struct{ b builder }

// Counter returns a builder for the counter family called name. Calling it
// again with the same name returns a builder for the same family; a
// different type or help text for an existing name is an error.
func (c *Collection) Counter(name, help string) Counter {
	return Counter{builder{f: c.family(name, help, dto.MetricType_COUNTER)}}
}

// Gauge returns a builder for the gauge family called name; see Counter.
func (c *Collection) Gauge(name, help string) Gauge {
	return Gauge{builder{f: c.family(name, help, dto.MetricType_GAUGE)}}
}

// Untyped returns a builder for the untyped family called name; see Counter.
func (c *Collection) Untyped(name, help string) Untyped {
	return Untyped{builder{f: c.family(name, help, dto.MetricType_UNTYPED)}}
}

// Histogram returns a builder for the histogram family called name; see
// Counter.
func (c *Collection) Histogram(name, help string) Histogram {
	return Histogram{builder{f: c.family(name, help, dto.MetricType_HISTOGRAM)}}
}

// Summary returns a builder for the summary family called name; see Counter.
func (c *Collection) Summary(name, help string) Summary {
	return Summary{builder{f: c.family(name, help, dto.MetricType_SUMMARY)}}
}

// With returns a builder that adds labelPairs to every series it sets, for
// labels shared by many series such as a device name.
func (m Counter) With(labelPairs ...string) Counter { return Counter{m.b.with(labelPairs)} }

// With returns a builder that adds labelPairs to every series; see Counter.With.
func (m Gauge) With(labelPairs ...string) Gauge { return Gauge{m.b.with(labelPairs)} }

// With returns a builder that adds labelPairs to every series; see Counter.With.
func (m Untyped) With(labelPairs ...string) Untyped { return Untyped{m.b.with(labelPairs)} }

// With returns a builder that adds labelPairs to every series; see Counter.With.
func (m Histogram) With(labelPairs ...string) Histogram { return Histogram{m.b.with(labelPairs)} }

// With returns a builder that adds labelPairs to every series; see Counter.With.
func (m Summary) With(labelPairs ...string) Summary { return Summary{m.b.with(labelPairs)} }

// Set adds the series with the given labels and the counter's current total,
// which must not be negative.
func (m Counter) Set(value float64, labelPairs ...string) {
	if value < 0 {
		m.b.fail(fmt.Errorf("counter value %v is negative", value))
		return
	}
	m.b.add(&dto.Metric{Counter: &dto.Counter{Value: &value}}, labelPairs)
}

// Set adds the series with the given labels and value.
func (m Gauge) Set(value float64, labelPairs ...string) {
	m.b.add(&dto.Metric{Gauge: &dto.Gauge{Value: &value}}, labelPairs)
}

// Set adds the series with the given labels and value.
func (m Untyped) Set(value float64, labelPairs ...string) {
	m.b.add(&dto.Metric{Untyped: &dto.Untyped{Value: &value}}, labelPairs)
}

// Set adds the series with the given labels: count observations summing to
// sum, and buckets mapping each upper bound to the cumulative count of
// observations less than or equal to it. The +Inf bucket is count and need
// not be given. The label "le" is reserved.
func (m Histogram) Set(count uint64, sum float64, buckets map[float64]uint64, labelPairs ...string) {
	bounds := slices.Sorted(maps.Keys(buckets))
	h := &dto.Histogram{SampleCount: &count, SampleSum: &sum}
	var prev uint64
	for _, ub := range bounds {
		n := buckets[ub]
		switch {
		case math.IsNaN(ub):
			m.b.fail(fmt.Errorf("histogram bucket bound is NaN"))
			return
		case n < prev || n > count:
			m.b.fail(fmt.Errorf("histogram bucket le=%v has count %d; bucket counts must be cumulative and at most the total count %d", ub, n, count))
			return
		}
		prev = n
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: &ub, CumulativeCount: &n})
	}
	m.b.add(&dto.Metric{Histogram: h}, labelPairs)
}

// Set adds the series with the given labels: count observations summing to
// sum, and quantiles mapping each quantile (between 0 and 1) to its value.
// The label "quantile" is reserved.
func (m Summary) Set(count uint64, sum float64, quantiles map[float64]float64, labelPairs ...string) {
	s := &dto.Summary{SampleCount: &count, SampleSum: &sum}
	for _, q := range slices.Sorted(maps.Keys(quantiles)) {
		if !(q >= 0 && q <= 1) {
			m.b.fail(fmt.Errorf("summary quantile %v is outside [0, 1]", q))
			return
		}
		v := quantiles[q]
		s.Quantile = append(s.Quantile, &dto.Quantile{Quantile: &q, Value: &v})
	}
	m.b.add(&dto.Metric{Summary: s}, labelPairs)
}

// builder is what the typed builders share: the family and the labels bound
// with With.
type builder struct {
	f     *family
	bound []string
}

func (b builder) with(pairs []string) builder {
	// Clip so that two builders derived from the same parent never share the
	// tail of one backing array.
	b.bound = append(slices.Clip(b.bound), pairs...)
	return b
}

func (b builder) fail(err error) {
	b.f.c.recordErr(fmt.Errorf("metric %q: %w", b.f.mf.GetName(), err))
}

func (b builder) add(m *dto.Metric, pairs []string) {
	all := append(slices.Clip(b.bound), pairs...)
	if len(all)%2 != 0 {
		b.fail(fmt.Errorf("labels must be given as name, value pairs; got an odd number of arguments %q", all))
		return
	}
	for i := 0; i < len(all); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: &all[i], Value: &all[i+1]})
	}
	if err := checkMetric(b.f.mf.GetType(), m); err != nil {
		b.fail(err)
		return
	}
	if b.f.broken {
		return
	}
	b.f.c.mu.Lock()
	b.f.mf.Metric = append(b.f.mf.Metric, m)
	b.f.c.mu.Unlock()
}

// family is one metric family of a collection. A broken family had a bad
// name or a conflict; its error is already recorded and its samples are
// dropped.
type family struct {
	c      *Collection
	mf     *dto.MetricFamily
	broken bool
}

// Names are checked against the legacy character set, not UTF-8, because
// the ABI's output is text format 0.0.4, which cannot carry other names.
func checkName(name string) error {
	if !model.LegacyValidation.IsValidMetricName(name) {
		return fmt.Errorf("metric %q: invalid metric name; it must match [a-zA-Z_:][a-zA-Z0-9_:]*", name)
	}
	return nil
}

func checkFamily(mf *dto.MetricFamily) error {
	if mf.Type == nil {
		return fmt.Errorf("no type")
	}
	if _, ok := dto.MetricType_name[int32(mf.GetType())]; !ok || mf.GetType() == dto.MetricType_GAUGE_HISTOGRAM {
		return fmt.Errorf("unsupported type %s", mf.GetType())
	}
	for _, m := range mf.Metric {
		if err := checkMetric(mf.GetType(), m); err != nil {
			return err
		}
	}
	return nil
}

func checkMetric(typ dto.MetricType, m *dto.Metric) error {
	if m == nil {
		return fmt.Errorf("nil metric")
	}
	if m.TimestampMs != nil {
		return fmt.Errorf("series %s has a timestamp; the Pushgateway rejects timestamped samples", seriesString(m.Label))
	}
	var ok bool
	switch typ {
	case dto.MetricType_COUNTER:
		ok = m.Counter != nil
	case dto.MetricType_GAUGE:
		ok = m.Gauge != nil
	case dto.MetricType_UNTYPED:
		ok = m.Untyped != nil
	case dto.MetricType_HISTOGRAM:
		ok = m.Histogram != nil
	case dto.MetricType_SUMMARY:
		ok = m.Summary != nil
	}
	if !ok {
		return fmt.Errorf("series %s has no %s value", seriesString(m.Label), typ)
	}
	seen := make(map[string]bool, len(m.Label))
	for _, lp := range m.Label {
		name := lp.GetName()
		switch {
		case !model.LegacyValidation.IsValidLabelName(name):
			return fmt.Errorf("invalid label name %q; it must match [a-zA-Z_][a-zA-Z0-9_]*", name)
		case strings.HasPrefix(name, "__"):
			return fmt.Errorf("label name %q is reserved: names starting with __ are for Prometheus' internal use", name)
		case name == model.BucketLabel && typ == dto.MetricType_HISTOGRAM,
			name == model.QuantileLabel && typ == dto.MetricType_SUMMARY:
			return fmt.Errorf("label name %q is reserved for %s buckets", name, typ)
		case seen[name]:
			return fmt.Errorf("label %q given twice in series %s", name, seriesString(m.Label))
		case !utf8.ValidString(lp.GetValue()):
			return fmt.Errorf("label %q has a value that is not valid UTF-8", name)
		}
		seen[name] = true
	}
	return nil
}

// seriesString renders labels the way the text format does, for error
// messages that must point at one series.
func seriesString(labels []*dto.LabelPair) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, lp := range labels {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", lp.GetName(), lp.GetValue())
	}
	sb.WriteByte('}')
	return sb.String()
}
