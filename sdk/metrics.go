package sdk

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unsafe"
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
	return Counter{builder{f: c.family(name, help, TypeCounter)}}
}

// Gauge returns a builder for the gauge family called name; see Counter.
func (c *Collection) Gauge(name, help string) Gauge {
	return Gauge{builder{f: c.family(name, help, TypeGauge)}}
}

// Untyped returns a builder for the untyped family called name; see Counter.
func (c *Collection) Untyped(name, help string) Untyped {
	return Untyped{builder{f: c.family(name, help, TypeUntyped)}}
}

// Histogram returns a builder for the histogram family called name; see
// Counter.
func (c *Collection) Histogram(name, help string) Histogram {
	return Histogram{builder{f: c.family(name, help, TypeHistogram)}}
}

// Summary returns a builder for the summary family called name; see Counter.
func (c *Collection) Summary(name, help string) Summary {
	return Summary{builder{f: c.family(name, help, TypeSummary)}}
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
	m.b.add(series{value: value}, nil, labelPairs)
}

// Set adds the series with the given labels and value.
func (m Gauge) Set(value float64, labelPairs ...string) {
	m.b.add(series{value: value}, nil, labelPairs)
}

// Set adds the series with the given labels and value.
func (m Untyped) Set(value float64, labelPairs ...string) {
	m.b.add(series{value: value}, nil, labelPairs)
}

// Set adds the series with the given labels: count observations summing to
// sum, and buckets mapping each upper bound to the cumulative count of
// observations less than or equal to it. The +Inf bucket is count and need
// not be given. The label "le" is reserved.
func (m Histogram) Set(count uint64, sum float64, buckets map[float64]uint64, labelPairs ...string) {
	points := make([]point, 0, len(buckets))
	for ub, n := range buckets {
		if math.IsNaN(ub) {
			m.b.fail(errors.New("histogram bucket bound is NaN"))
			return
		}
		points = append(points, point{ub, float64(n)})
	}
	sortPoints(points)
	var prev float64
	for _, p := range points {
		if p.value < prev || p.value > float64(count) {
			m.b.fail(fmt.Errorf("histogram bucket le=%v has count %d; bucket counts must be cumulative and at most the total count %d", p.key, buckets[p.key], count))
			return
		}
		prev = p.value
	}
	m.b.add(series{value: sum, count: float64(count)}, points, labelPairs)
}

// Set adds the series with the given labels: count observations summing to
// sum, and quantiles mapping each quantile (between 0 and 1) to its value.
// The label "quantile" is reserved.
func (m Summary) Set(count uint64, sum float64, quantiles map[float64]float64, labelPairs ...string) {
	points := make([]point, 0, len(quantiles))
	for q, v := range quantiles {
		points = append(points, point{q, v})
	}
	sortPoints(points)
	for _, p := range points {
		if !(p.key >= 0 && p.key <= 1) {
			m.b.fail(fmt.Errorf("summary quantile %v is outside [0, 1]", p.key))
			return
		}
	}
	m.b.add(series{value: sum, count: float64(count)}, points, labelPairs)
}

// comparePoints orders buckets by bound and quantiles by quantile; NaN,
// which both refuse, sorts first so that it is the one reported.
func comparePoints(a, b point) int {
	switch {
	case a.key < b.key || math.IsNaN(a.key) && !math.IsNaN(b.key):
		return -1
	case a.key > b.key || math.IsNaN(b.key) && !math.IsNaN(a.key):
		return 1
	}
	return 0
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
	b.f.c.recordErr(metricError(b.f.name, err))
}

func (b builder) add(s series, points []point, pairs []string) {
	n := len(b.bound) + len(pairs)
	if n%2 != 0 {
		b.oddLabels(pairs)
		return
	}
	f := b.f
	f.c.mu.Lock()
	// The labels go straight into the family's arena, and are taken back
	// out if they are invalid: no allocation per series. (Wasm makes
	// every branch and call costly: hence stores by index into room made
	// once, and tests that combine their conditions.)
	lo := len(f.labels)
	if cap(f.labels)-lo < n {
		f.labels = slices.Grow(f.labels, n)
	}
	f.labels = f.labels[:lo+n]
	labels := f.labels[lo:]
	for i, l := range b.bound {
		labels[i] = l
	}
	bound := labels[len(b.bound):]
	for i, l := range pairs {
		bound[i] = l
	}
	// A builder passes the same names, usually constants, for every
	// series: when they are the very strings of the family's last series,
	// in the same order, they are sorted and valid, and only the values
	// need a look.
	diff := len(labels) ^ 2*len(f.names)
	if diff == 0 {
		for i, name := range f.names {
			l := labels[2*i]
			diff |= (len(l) ^ len(name)) | int(uintptr(unsafe.Pointer(unsafe.StringData(l)))^uintptr(unsafe.Pointer(unsafe.StringData(name))))
		}
	}
	var escape bool
	var err error
	if class := valuesClass(labels); diff|int(class&nonASCII) == 0 {
		escape = class&escapeByte != 0
	} else {
		escape, err = f.prepareLabels(labels)
	}
	if err != nil || f.broken {
		clear(labels) // let the garbage collector have the strings
		f.labels = f.labels[:lo]
		f.c.mu.Unlock()
		if err != nil {
			b.fail(err)
		}
		return
	}
	f.escape = f.escape || escape
	s.lo, s.hi = int32(lo), int32(len(f.labels))
	if len(points) > 0 {
		s.plo = int32(len(f.points))
		f.points = append(f.points, points...)
		s.phi = int32(len(f.points))
	}
	f.series = append(f.series, s)
	f.c.mu.Unlock()
}

// prepareLabels is prepareLabels for a builder's series, which remembers
// the names of a valid series for the next one.
func (f *family) prepareLabels(labels []string) (bool, error) {
	escape, err := prepareLabels(f.typ, labels)
	if err == nil {
		clear(f.names)
		f.names = slices.Grow(f.names[:0], len(labels)/2)
		for i := 0; i < len(labels); i += 2 {
			f.names = append(f.names, labels[i])
		}
	}
	return escape, err
}

func (b builder) oddLabels(pairs []string) {
	all := append(slices.Clip(b.bound), pairs...)
	b.fail(fmt.Errorf("labels must be given as name, value pairs; got an odd number of arguments %q", all))
}
