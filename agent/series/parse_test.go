package series

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// expfmtText is what the agent parsed before Parse existed: the reference
// the differential fuzz target holds Parse to.
func expfmtText(text []byte) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	m, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, err
	}
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	return out, nil
}

// canonical writes families as text with sorted lines, so that two sets
// of families compare equal when they hold the same series, whatever the
// order of families, metrics and labels. An explicit timestamp 0 reads as
// none: the batch has no other way to say it.
func canonical(t *testing.T, fams []*dto.MetricFamily) string {
	t.Helper()
	var lines []string
	for _, f := range fams {
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

var seeds = []string{
	"a 1\n",
	"# HELP q Queue depth.\n# TYPE q gauge\nq{queue=\"x\"} 3\n",
	"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
	"# TYPE h histogram\nh_bucket{a=\"1\",le=\"0.50\"} 1\nh_bucket{a=\"2\",le=\"1\"} 1.5\nh_sum{a=\"1\"} 3 100\nh_count{a=\"1\"} 2\nh 5\n",
	"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\ns_count 2\n",
	"m{job=\"x\"} 1 123\n", "{", "m{a=\"\\\"\"} NaN\n", "m 1", "m 1 \n", "m{a=\"1\",a=\"2\"} 1\n",
	"# TYPE m gauge\n# TYPE m gauge\n", "m 1\n# TYPE m counter\n", "# HELP m a\\\\b\\nc\\\"\n# HELP m x\n",
	"1m 1\n", "m-x 1\n", "m{1a=\"b\"} 1\n", "m{a=b} 1\n", "m 0x1p3\n", "m 1_0\n", "m 1 1.5\n",
	"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", "# TYPE h histogram\nh_count -1\n", "# TYPE h histogram\nh_bucket{le=\"1\"} -2.5\n",
	"{m} 1\n", "{m,a=\"b\"} 1\n", "{a=\"b\",m} 1\n", "{a=\"b\"} 1\n", "{} 1\n", "\"m\"{a=\"b\"} 1\n", "{m,n} 1\n",
	"# TYPE m GAUGE\nm 1\n", "# TYPE m gauge_histogram\nm_bucket{le=\"1\"} 1\n", "# TYPE m gaugehistogram\n", "# TYPE m info\n",
	"# UNIT m seconds\n# TYPE m gauge\nm 1\n", "# comment\n\n  \n\t# TYPE\n", "m{a=\"x\\q\"} 1\n", "m{a=\"x\n\"} 1\n",
	"m{__name__=\"x\"} 1\n", "m{a=\"b\",} 1\n", "m {a=\"b\"} 1\n", "m{a=\"b\"}1\n", "m 1 2 3\n",
	"# TYPE s summary\ns_bucket 1\ns{quantile=\"x\"} 1\n", "# TYPE h histogram\nh_count 1\nh_count_count 2\n",
	"h_count 1\n# TYPE h histogram\nh_count 2\n", "# TYPE m gau\\ge\nm 1\n", "m{a=\"\\xff\"} 1\n",
}

func FuzzParseMatchesExpfmt(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		want, wantErr := expfmtText(text)
		got, err := Parse(text)
		if bracedHistogram(text) {
			return // the one documented difference (see Parse)
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("Parse error %v, expfmt error %v", err, wantErr)
		}
		if err != nil {
			if err.Error() != wantErr.Error() {
				t.Fatalf("Parse error %q, expfmt error %q", err, wantErr)
			}
			return
		}
		checkBatch(t, got)
		if g, w := canonical(t, got.MetricFamilies(DTOOptions{})), canonical(t, want); g != w {
			t.Fatalf("series differ\nParse:\n%s\nexpfmt:\n%s", g, w)
		}
	})
}

// bracedHistogram is whether text has a line that starts with '{' and a
// histogram or summary type, where expfmt's reading depends on the line
// before (see Parse).
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

// checkBatch holds a batch to the contract in series.go.
func checkBatch(t *testing.T, b *Batch) {
	t.Helper()
	for i := range b.Samples {
		s := &b.Samples[i]
		if int(s.Family) >= len(b.Families) || s.Family < 0 {
			t.Fatalf("sample %d: family %d of %d", i, s.Family, len(b.Families))
		}
		if i > 0 && s.Family < b.Samples[i-1].Family {
			t.Fatalf("samples of a family are not contiguous at %d", i)
		}
		if s.Labels.Get(model.MetricNameLabel) == "" {
			t.Fatalf("sample %d has no name: %v", i, s.Labels)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range seeds {
		want, wantErr := expfmtText([]byte(s))
		got, err := Parse([]byte(s))
		if (err != nil) != (wantErr != nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%q: Parse error %v, expfmt error %v", s, err, wantErr)
			continue
		}
		if err != nil || bracedHistogram([]byte(s)) {
			continue
		}
		checkBatch(t, got)
		if g, w := canonical(t, got.MetricFamilies(DTOOptions{})), canonical(t, want); g != w {
			t.Errorf("%q: series differ\nParse:\n%s\nexpfmt:\n%s", s, g, w)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	b, err := Parse([]byte("# HELP rpc_seconds RPC latency.\n# TYPE rpc_seconds histogram\n# UNIT rpc_seconds seconds\nrpc_seconds_bucket{le=\"0.50\"} 1\nrpc_seconds_bucket{le=\"+inf\"} 2\nrpc_seconds_sum 1.5\nrpc_seconds_count 2\n# TYPE up gauge\nup 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Family{{Name: "rpc_seconds", Type: model.MetricTypeHistogram, Help: "RPC latency.", Unit: "seconds"}, {Name: "up", Type: model.MetricTypeGauge}}
	if !slices.Equal(b.Families, want) {
		t.Errorf("families = %+v, want %+v", b.Families, want)
	}
	var got []string
	for _, s := range b.Samples {
		got = append(got, s.Labels.String())
	}
	wantS := []string{`{__name__="rpc_seconds_bucket", le="0.5"}`, `{__name__="rpc_seconds_bucket", le="+Inf"}`, `{__name__="rpc_seconds_sum"}`, `{__name__="rpc_seconds_count"}`, `{__name__="up"}`}
	if !slices.Equal(got, wantS) {
		t.Errorf("series = %q, want %q", got, wantS)
	}
	if n := b.Series(); n != 2 {
		t.Errorf("Series() = %d, want 2", n)
	}
}
