package sdk

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// maxReportedErrors bounds the error of a failed run: a loop that gets one
// label wrong would otherwise log thousands of identical lines.
const maxReportedErrors = 10

// encode renders the collection as text format 0.0.4 in a canonical order:
// families by name, series by their sorted labels. The host does not need
// the order, but it makes a plugin's output byte-for-byte reproducible, so
// golden-file tests work.
func (c *Collection) encode() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := slices.Clip(c.errs)
	names := make([]string, 0, len(c.families))
	for name, f := range c.families {
		if len(f.mf.Metric) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := canonicalize(c.families[name].mf); err != nil {
			errs = append(errs, fmt.Errorf("metric %q: %w", name, err))
		}
	}
	if len(errs) > 0 {
		if len(errs) > maxReportedErrors {
			errs = append(errs[:maxReportedErrors], fmt.Errorf("and %d more errors", len(errs)-maxReportedErrors))
		}
		return nil, errors.Join(errs...)
	}
	var buf bytes.Buffer
	for _, name := range names {
		if _, err := expfmt.MetricFamilyToText(&buf, c.families[name].mf); err != nil {
			return nil, fmt.Errorf("encoding metric %q: %w", name, err)
		}
	}
	return buf.Bytes(), nil
}

// canonicalize sorts labels, series, buckets and quantiles in place and
// reports a series that appears twice, which Prometheus would reject.
func canonicalize(mf *dto.MetricFamily) error {
	for _, m := range mf.Metric {
		slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
		if h := m.Histogram; h != nil {
			slices.SortFunc(h.Bucket, func(a, b *dto.Bucket) int { return cmp.Compare(a.GetUpperBound(), b.GetUpperBound()) })
		}
		if s := m.Summary; s != nil {
			slices.SortFunc(s.Quantile, func(a, b *dto.Quantile) int { return cmp.Compare(a.GetQuantile(), b.GetQuantile()) })
		}
	}
	slices.SortStableFunc(mf.Metric, compareSeries)
	for i := 1; i < len(mf.Metric); i++ {
		if compareSeries(mf.Metric[i-1], mf.Metric[i]) == 0 {
			return fmt.Errorf("series %s added more than once", seriesString(mf.Metric[i].Label))
		}
	}
	return nil
}

func compareSeries(a, b *dto.Metric) int {
	for i := 0; i < len(a.Label) && i < len(b.Label); i++ {
		if c := cmp.Compare(a.Label[i].GetName(), b.Label[i].GetName()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.Label), len(b.Label))
}
