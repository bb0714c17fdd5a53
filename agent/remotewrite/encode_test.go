package remotewrite

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/pushagent/pushagent/agent/series"
)

// TestRequest: the batch as Prometheus would write it: one series per
// sample with the run's job and grouping labels, a +Inf bucket for a
// histogram without one, and each family's metadata.
func TestRequest(t *testing.T) {
	b, err := series.Parse([]byte(`# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds histogram
# UNIT rpc_seconds seconds
rpc_seconds_bucket{le="0.5"} 1
rpc_seconds_sum 0.25
rpc_seconds_count 2
# TYPE jobs_total counter
jobs_total{instance="own",empty=""} 7 1700000000000
`))
	if err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1800000000000)
	req := referenceRequest(b, "j", map[string]string{"instance": "i1"}, at)
	var got []string
	for _, ts := range req.Timeseries {
		var ls []string
		for _, l := range ts.Labels {
			ls = append(ls, l.Name+"="+l.Value)
		}
		if !slices.IsSorted(ls) {
			t.Errorf("labels not sorted: %v", ls)
		}
		got = append(got, strings.Join(ls, ",")+" "+formatFloat(ts.Samples[0].Value)+" @"+formatFloat(float64(ts.Samples[0].Timestamp)))
	}
	want := []string{
		"__name__=rpc_seconds_bucket,instance=i1,job=j,le=0.5 1 @1.8e+12",
		"__name__=rpc_seconds_sum,instance=i1,job=j 0.25 @1.8e+12",
		"__name__=rpc_seconds_count,instance=i1,job=j 2 @1.8e+12",
		"__name__=rpc_seconds_bucket,instance=i1,job=j,le=+Inf 2 @1.8e+12",
		"__name__=jobs_total,instance=i1,job=j 7 @1.7e+12",
	}
	if !slices.Equal(got, want) {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantMeta := []prompb.MetricMetadata{
		{Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "rpc_seconds", Help: "RPC latency.", Unit: "seconds"},
		{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "jobs_total"},
	}
	if !slices.EqualFunc(req.Metadata, wantMeta, func(a, b prompb.MetricMetadata) bool {
		return a.Type == b.Type && a.MetricFamilyName == b.MetricFamilyName && a.Help == b.Help && a.Unit == b.Unit
	}) {
		t.Errorf("metadata = %+v, want %+v", req.Metadata, wantMeta)
	}
	body, samples, oldest := EncodeBatch(b, "j", map[string]string{"instance": "i1"}, at)
	if samples != 5 || oldest != 1700000000000 {
		t.Fatalf("EncodeBatch: %d samples, oldest %d", samples, oldest)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := req.Marshal(); !bytes.Equal(raw, want) {
		t.Errorf("EncodeBatch's bytes differ from prompb's Marshal of the same request")
	}
}

// TestEncodeBatchIsPrompb: EncodeBatch writes, byte for byte, what prompb
// marshals for the same request, whatever the batch holds.
func TestEncodeBatchIsPrompb(t *testing.T) {
	texts := []string{
		"a 1\nb{x=\"\",y=\"z\"} 0\nc{job=\"own\",instance=\"mine\"} -0.0 5\nd NaN -1\n",
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1e300\ns_count 3\n# HELP h Long help \\n with escapes.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 2\nh_count 3\n",
		"",
	}
	if golden, err := os.ReadFile("../../plugins/procfs/testdata/golden.prom"); err == nil {
		texts = append(texts, string(golden))
	}
	for _, text := range texts {
		b, err := series.Parse([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		for _, grouping := range []map[string]string{nil, {"instance": "i1", "zone": "z", "empty": ""}, {"a": "first"}} {
			at := time.UnixMilli(1800000000000)
			body, samples, _ := EncodeBatch(b, "j", grouping, at)
			raw, err := snappy.Decode(nil, body)
			if err != nil {
				t.Fatal(err)
			}
			req := referenceRequest(b, "j", grouping, at)
			want, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, want) || samples != len(req.Timeseries) {
				t.Errorf("text %.40q… grouping %v: EncodeBatch wrote %d bytes, %d samples; prompb %d bytes, %d series", text, grouping, len(raw), samples, len(want), len(req.Timeseries))
			}
		}
	}
}

// referenceRequest is EncodeBatch's request built as prompb values, the
// readable reference its bytes are held to: each sample a
// series with one sample, and each family's metadata (type, help, unit)
// as Prometheus sends it. job and the grouping labels are added to every
// series (a sample's own label of the same name loses, as at the
// Pushgateway); labels with an empty value are left out, as Prometheus
// reads them as absent. A histogram without a +Inf bucket gets one (its
// count), as the Pushgateway exposes it. A sample without its own
// timestamp gets at, the collection time.
func referenceRequest(b *series.Batch, job string, grouping map[string]string, at time.Time) *prompb.WriteRequest {
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
