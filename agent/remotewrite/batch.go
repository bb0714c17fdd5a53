package remotewrite

import (
	"math"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/pushagent/pushagent/agent/series"
)

// What the encoders from a series.Batch (remote write 2.0, OTLP) share:
// the run's labels and the created timestamps of OpenMetrics' _created
// samples.

// runLabels is job and the grouping labels, sorted by name: the labels a
// run adds to every series. Empty values are left out, as everywhere.
func runLabels(job string, grouping map[string]string) []labels.Label {
	ls := make([]labels.Label, 0, len(grouping)+1)
	ls = append(ls, labels.Label{Name: model.JobLabel, Value: job})
	for k, v := range grouping {
		if k != model.JobLabel && v != "" {
			ls = append(ls, labels.Label{Name: k, Value: v})
		}
	}
	for i := 1; i < len(ls); i++ { // insertion sort: a handful of labels
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	return ls
}

// mergeLabels calls fn with the labels of a series as every output sends
// it: the sample's own labels and the run's, in name order. A sample's
// own label named like one of the run's loses (as at the Pushgateway),
// and labels with empty values are left out.
func mergeLabels(ls labels.Labels, run []labels.Label, fn func(name, value string)) {
	i := 0
	ls.Range(func(l labels.Label) {
		for i < len(run) && run[i].Name < l.Name {
			fn(run[i].Name, run[i].Value)
			i++
		}
		if (i < len(run) && run[i].Name == l.Name) || l.Value == "" {
			return
		}
		fn(l.Name, l.Value)
	})
	for ; i < len(run); i++ {
		fn(run[i].Name, run[i].Value)
	}
}

// hasStart says whether a family's series have a start (created) time:
// counters, histograms and summaries count from one.
func hasStart(t model.MetricType) bool {
	return t == model.MetricTypeCounter || t == model.MetricTypeHistogram || t == model.MetricTypeSummary
}

// createdName is the name of a family's OpenMetrics _created samples: a
// counter family "requests" (or, in the Prometheus text format,
// "requests_total") has requests_created.
func createdName(f *series.Family) string {
	return strings.TrimSuffix(f.Name, "_total") + "_created"
}

// starts holds the created timestamps of a batch: what OpenMetrics'
// _created samples say of the other series of their family with the same
// labels (le and quantile aside). Those samples are not sent as series of
// their own: the timestamp travels in the field each protocol has for it,
// as Prometheus sends it when it knows it.
type starts struct {
	created []bool           // by sample index: a _created sample
	byKey   map[string]int64 // family and labels → ms
	buf     []byte
}

// findStarts returns nil when the batch has no _created sample, which is
// the common case and costs one label lookup per sample of a counter,
// histogram or summary.
func findStarts(b *series.Batch) *starts {
	var st *starts
	names := make([]string, len(b.Families))
	for i := range b.Samples {
		s := &b.Samples[i]
		f := b.FamilyOf(s)
		if !hasStart(f.Type) {
			continue
		}
		if names[s.Family] == "" {
			names[s.Family] = createdName(f)
		}
		if s.Labels.Get(model.MetricNameLabel) != names[s.Family] {
			continue
		}
		if st == nil {
			st = &starts{created: make([]bool, len(b.Samples)), byKey: map[string]int64{}}
		}
		st.created[i] = true
		if !math.IsNaN(s.Value) && s.Value > 0 {
			st.byKey[string(st.key(s))] = int64(math.Round(s.Value * 1000))
		}
	}
	return st
}

// key identifies a sample's series within its family, without the labels
// that tell a histogram's or summary's parts apart.
func (st *starts) key(s *series.Sample) []byte {
	b := append(st.buf[:0], byte(s.Family), byte(s.Family>>8), byte(s.Family>>16), byte(s.Family>>24))
	s.Labels.Range(func(l labels.Label) {
		switch l.Name {
		case model.MetricNameLabel, model.BucketLabel, model.QuantileLabel:
			return
		}
		if l.Value == "" {
			return
		}
		b = append(b, l.Name...)
		b = append(b, 0xff)
		b = append(b, l.Value...)
		b = append(b, 0xff)
	})
	st.buf = b
	return b
}

// of returns the start time of sample i in ms (0: unknown) and whether
// the sample is itself a _created sample, not to be sent.
func (st *starts) of(b *series.Batch, i int) (start int64, skip bool) {
	if st == nil {
		return 0, false
	}
	if st.created[i] {
		return 0, true
	}
	s := &b.Samples[i]
	if !hasStart(b.FamilyOf(s).Type) {
		return 0, false
	}
	return st.byKey[string(st.key(s))], false
}
