package sdk

import (
	"errors"
	"fmt"
	"math"
)

// AddFamily adds a family to the collection: typically one that ParseText
// returned and the plugin then filtered, relabeled or merged.
//
// The family is checked whole, by the rules the builders follow, before
// anything of it is added: a valid metric name, label names that are valid
// and not reserved ("__…", and "le" or "quantile" where the type claims
// them), no label twice, valid UTF-8 values, no series twice (also not one
// the collection already has), no timestamps (the Pushgateway refuses
// them; see Family.DropTimestamps), counters not negative, histogram
// buckets cumulative and at most the count, summary quantiles within
// [0, 1] and whole counts. A histogram's or summary's series may lack
// samples: a missing _sum or _count is 0, a missing +Inf bucket is the
// count, as the text format's writers have it.
//
// A family whose name is already present is merged into it: it must have
// the same type, and the same help text unless one of them has none (a
// help text fills in a missing one). A histogram or summary foo and a
// family named foo_sum or foo_count (or foo_bucket, for a histogram) cannot
// both be present, because the text format cannot tell their samples apart.
//
// An invalid family is left out and its error returned, naming the metric;
// unlike the builders' mistakes, this does not fail the run by itself:
// return the error from the CollectFunc to fail it, or log it to skip the
// family. AddFamily copies what it keeps, so f may be reused afterwards.
func (c *Collection) AddFamily(f *Family) error {
	if f == nil {
		return errors.New("sdk: AddFamily: nil family")
	}
	if err := checkName(f.Name); err != nil {
		return err
	}
	if !f.Type.valid() {
		return metricError(f.Name, fmt.Errorf("unsupported type %s", f.Type))
	}
	src, err := buildFamily(f)
	if err != nil {
		return metricError(f.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(src.series) > 0 {
		if base, sfx := c.baseCollisionLocked(f.Name); base != "" {
			return collisionError(base, f.Name, sfx)
		}
		if other, sfx := c.suffixCollisionLocked(f.Name, f.Type); other != "" {
			return collisionError(f.Name, other, sfx)
		}
	}
	if old := c.lookup(f.Name); old != nil {
		if err := old.conflict(normalizeHelp(f.Help), f.Type); err != nil {
			return err
		}
		if len(old.series) > 0 && len(src.series) > 0 {
			seen := make(map[string]bool, len(old.series))
			for i := range old.series {
				seen[seriesString(old.seriesLabels(&old.series[i]))] = true
			}
			for i := range src.series {
				if k := seriesString(src.seriesLabels(&src.series[i])); seen[k] {
					return metricError(f.Name, fmt.Errorf("series %s added more than once", k))
				}
			}
		}
	}
	dst, err := c.familyLocked(f.Name, f.Help, f.Type)
	if err != nil {
		return err // checked above; kept so that a future rule cannot slip through
	}
	dst.escape = dst.escape || src.escape
	if len(dst.series) == 0 {
		// The family is new, as it is for most of what a relaying
		// plugin adds: take the series built for it rather than copy
		// them (and every label string, each copy a write barrier while
		// the collector marks). They were allocated for this call
		// either way; the arena a previous run left is given up.
		dst.series, dst.labels, dst.points = src.series, src.labels, src.points
		return nil
	}
	for _, s := range src.series {
		lo, plo := len(dst.labels), len(dst.points)
		dst.labels = append(dst.labels, src.seriesLabels(&s)...)
		dst.points = append(dst.points, src.seriesPoints(&s)...)
		s.lo, s.hi = int32(lo), int32(len(dst.labels))
		s.plo, s.phi = int32(plo), int32(len(dst.points))
		dst.series = append(dst.series, s)
	}
	return nil
}

// buildFamily turns a family's flat samples into checked, sorted series,
// in a family of their own.
func buildFamily(f *Family) (*family, error) {
	out := &family{name: f.Name, typ: f.Type}
	var err error
	switch f.Type {
	case TypeHistogram, TypeSummary:
		err = out.buildComposite(f)
	default:
		err = out.buildScalar(f)
	}
	if err != nil {
		return nil, err
	}
	if err := out.canonicalize(); err != nil {
		return nil, err
	}
	return out, nil
}

// appendSampleLabels appends s's labels to the arena as sorted name, value
// pairs, leaving out the label called skip, and checks them. It returns
// where they start.
func (out *family) appendSampleLabels(s *Sample, skip string) (int, error) {
	lo := len(out.labels)
	for _, l := range s.Labels {
		if l.Name != skip || skip == "" {
			out.labels = append(out.labels, l.Name, l.Value)
		}
	}
	pairs := out.labels[lo:]
	escape, err := prepareLabels(out.typ, pairs)
	if err != nil {
		return 0, err
	}
	out.escape = out.escape || escape
	if s.HasTimestamp {
		return 0, fmt.Errorf("series %s has a timestamp; the Pushgateway rejects timestamped samples", seriesString(pairs))
	}
	return lo, nil
}

func (out *family) buildScalar(f *Family) error {
	n := 0
	for i := range f.Samples {
		n += 2 * len(f.Samples[i].Labels)
	}
	out.series = make([]series, 0, len(f.Samples))
	out.labels = make([]string, 0, n)
	for i := range f.Samples {
		s := &f.Samples[i]
		if s.Name != "" && s.Name != f.Name {
			return fmt.Errorf("sample %q is not named after its %s family", s.Name, f.Type)
		}
		lo, err := out.appendSampleLabels(s, "")
		if err != nil {
			return err
		}
		if f.Type == TypeCounter && s.Value < 0 {
			return fmt.Errorf("counter value %v is negative", s.Value)
		}
		out.series = append(out.series, series{lo: int32(lo), hi: int32(len(out.labels)), value: s.Value})
	}
	return nil
}

// partial is a histogram or summary series being assembled from samples.
type partial struct {
	labels           []string
	value, count     float64
	points           []point
	hasSum, hasCount bool
}

func (out *family) buildComposite(f *Family) error {
	hist := f.Type == TypeHistogram
	special := reservedLabel(f.Type)
	var order []*partial
	byLabels := make(map[string]*partial)
	lookup := func(lo int) *partial {
		labels := out.labels[lo:]
		k := seriesString(labels)
		p, ok := byLabels[k]
		if !ok {
			p = &partial{labels: labels}
			byLabels[k] = p
			order = append(order, p)
		}
		return p
	}
	for i := range f.Samples {
		s := &f.Samples[i]
		kind, ok := compositeKind(f, s.Name)
		if !ok {
			if hist {
				return fmt.Errorf("sample %q is not one of histogram %s: want %[2]s_bucket, %[2]s_sum or %[2]s_count", s.Name, f.Name)
			}
			return fmt.Errorf("sample %q is not one of summary %s: want %[2]s, %[2]s_sum or %[2]s_count", s.Name, f.Name)
		}
		if kind == kindBucket || kind == kindValue {
			v, ok := labelValue(s.Labels, special)
			if !ok {
				return fmt.Errorf("sample %q has no %s label", s.Name, special)
			}
			key, err := parseFloat(v)
			if err != nil || math.IsNaN(key) {
				return fmt.Errorf("sample %q has %s=%q, which is not a number", s.Name, special, v)
			}
			// The label is left out of the series' labels: it is the
			// bucket's bound or the quantile, written from key.
			lo, err := out.appendSampleLabels(s, special)
			if err != nil {
				return err
			}
			p := lookup(lo)
			p.points = append(p.points, point{key, s.Value})
			continue
		}
		lo, err := out.appendSampleLabels(s, "")
		if err != nil {
			return err
		}
		p := lookup(lo)
		if kind == kindSum {
			if p.hasSum {
				return fmt.Errorf("series %s has %s twice", seriesString(p.labels), s.Name)
			}
			p.value, p.hasSum = s.Value, true
		} else {
			if p.hasCount {
				return fmt.Errorf("series %s has %s twice", seriesString(p.labels), s.Name)
			}
			p.count, p.hasCount = s.Value, true
		}
	}
	// The arena holds the labels of every sample; keep one copy per series.
	all := out.labels
	out.labels = make([]string, 0, len(order)*2)
	for _, p := range order {
		if err := p.check(hist); err != nil {
			return err
		}
		lo, plo := len(out.labels), len(out.points)
		out.labels = append(out.labels, p.labels...)
		out.points = append(out.points, p.points...)
		out.series = append(out.series, series{
			lo: int32(lo), hi: int32(len(out.labels)), plo: int32(plo), phi: int32(len(out.points)),
			value: p.value, count: p.count})
	}
	clear(all)
	return nil
}

// compositeKind says which sample of a histogram or summary a sample name
// is, and false if it is none.
func compositeKind(f *Family, name string) (sampleKind, bool) {
	switch {
	case name == f.Name+"_sum":
		return kindSum, true
	case name == f.Name+"_count":
		return kindCount, true
	case f.Type == TypeHistogram:
		return kindBucket, name == f.Name+"_bucket"
	}
	return kindValue, name == f.Name || name == ""
}

func labelValue(labels []Label, name string) (string, bool) {
	for _, l := range labels {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}

// check applies the builders' rules to an assembled series.
func (p *partial) check(hist bool) error {
	sortPoints(p.points)
	for i := 1; i < len(p.points); i++ {
		if p.points[i].key == p.points[i-1].key {
			what := "quantile"
			if hist {
				what = "le"
			}
			return fmt.Errorf("series %s has %s=%v twice", seriesString(p.labels), what, p.points[i].key)
		}
	}
	if hist {
		if !(p.count >= 0 && !math.IsInf(p.count, 1)) {
			return fmt.Errorf("histogram count %v of series %s is not a count", p.count, seriesString(p.labels))
		}
		prev := 0.0
		for _, b := range p.points {
			if !(b.value >= prev && b.value <= p.count) {
				return fmt.Errorf("histogram bucket le=%v has count %v; bucket counts must be cumulative and at most the total count %v", b.key, b.value, p.count)
			}
			prev = b.value
		}
		return nil
	}
	if !(p.count >= 0 && p.count < 1<<64 && p.count == math.Trunc(p.count)) {
		return fmt.Errorf("summary count %v of series %s is not a whole number of observations", p.count, seriesString(p.labels))
	}
	for _, q := range p.points {
		if !(q.key >= 0 && q.key <= 1) {
			return fmt.Errorf("summary quantile %v is outside [0, 1]", q.key)
		}
	}
	return nil
}

// conflict reports why a family of type typ and help text help cannot be
// merged into f.
func (f *family) conflict(help string, typ Type) error {
	if f.typ != typ {
		return metricError(f.name, fmt.Errorf("added as %s, but already present as %s", typ.upper(), f.typ.upper()))
	}
	if help != "" && f.help != "" && help != f.help {
		return metricError(f.name, fmt.Errorf("help %q differs from the earlier %q", help, f.help))
	}
	return nil
}
