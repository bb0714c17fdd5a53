package merge

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// canonical writes families as text with sorted lines, so that two sets
// compare equal when they hold the same series in whatever order. An
// explicit timestamp 0 reads as none, as in a series.Batch.
func canonical(t *testing.T, fams []*dto.MetricFamily) string {
	t.Helper()
	var lines []string
	for _, f := range zeroDurations(fams) {
		for _, m := range f.Metric {
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
			if m.GetTimestampMs() == 0 {
				m.TimestampMs = nil
			}
		}
		var buf bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatalf("encode %s: %v", f.GetName(), err)
		}
		lines = append(lines, strings.Split(buf.String(), "\n")...)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// bracedHistogram: a line that starts with '{' in a text with a histogram
// or summary, the one place series.Parse reads otherwise than expfmt.
func bracedHistogram(text []byte) bool {
	upper := strings.ToUpper(string(text))
	if !strings.Contains(upper, "HISTOGRAM") && !strings.Contains(upper, "SUMMARY") {
		return false
	}
	for _, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), "{") {
			return true
		}
	}
	return false
}

// FuzzMergeMatchesReference holds MergeBatch to the merge it replaced
// (expfmt families through client_golang's Gatherers): the same series,
// the same statuses.
func FuzzMergeMatchesReference(f *testing.F) {
	for _, s := range []string{
		"a 1\n", "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
		"m{job=\"x\"} 1 123\n", "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n", "{", "m{a=\"\\\"\"} NaN\n",
		"# TYPE m counter\nm{k=\"2\"} 2\n# HELP h Same.\n# TYPE h gauge\nh 2\nh{x=\"y\"} 3\n", "b 2\nb 3\n", "pushagent_x 1\nb_sum 1\n",
		"m{l=\"v\",exported_l=\"w\"} 1\n", "m{instance=\"i\",exported_instance=\"j\"} 1\n", "# TYPE b summary\nb_sum 1\n",
	} {
		f.Add([]byte(s), []byte("b 2\n"))
		f.Add([]byte("# TYPE m gauge\nm{k=\"1\"} 1\n# HELP h Same.\n# TYPE h gauge\nh 1\n"), []byte(s))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if bracedHistogram(a) || bracedHistogram(b) {
			return
		}
		j := Job{Name: "fuzz", Reserved: []string{"instance"}}
		results := func() []Result {
			return []Result{{Collector: "a", Output: a, SeriesLimit: 5}, {Collector: "b", Output: b, Labels: map[string]string{"l": "v"}}}
		}
		want, wantSt := j.referenceMerge(results())
		got, gotSt := j.Merge(results())
		for i := range wantSt {
			g, w := gotSt[i], wantSt[i]
			if g.Success != w.Success || g.Samples != w.Samples || g.Dropped != w.Dropped || (g.Err == nil) != (w.Err == nil) {
				t.Fatalf("collector %s: status success %v samples %d dropped %d err %v, reference %v %d %d %v",
					g.Collector, g.Success, g.Samples, g.Dropped, g.Err, w.Success, w.Samples, w.Dropped, w.Err)
			}
		}
		if g, w := canonical(t, got), canonical(t, want); g != w {
			t.Fatalf("series differ\nMerge:\n%s\nreference:\n%s", g, w)
		}
	})
}
