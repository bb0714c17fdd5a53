package remotewrite

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
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
	req := Request(b, "j", map[string]string{"instance": "i1"}, at)
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
	body, samples, oldest, err := EncodeRequest(req)
	if err != nil || samples != 5 || oldest != 1700000000000 {
		t.Fatalf("EncodeRequest: %d samples, oldest %d, err %v", samples, oldest, err)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var back prompb.WriteRequest
	if err := back.Unmarshal(raw); err != nil || len(back.Timeseries) != 5 || len(back.Metadata) != 2 {
		t.Fatalf("decoded %d series, %d metadata, err %v", len(back.Timeseries), len(back.Metadata), err)
	}
}
