package remotewrite

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pushagent/pushagent/agent/series"
)

// testBatch is one of each kind of family, as a parse of this text gives:
//
//	# TYPE rpc_total counter (OpenMetrics: family rpc, with rpc_created)
//	# TYPE temp_celsius gauge, UNIT celsius
//	# TYPE lat_seconds histogram, two buckets, one series
//	# TYPE q summary, one quantile
//	free untyped, with its own timestamp
func testBatch() *series.Batch {
	return &series.Batch{
		Families: []series.Family{
			{Name: "rpc", Type: model.MetricTypeCounter, Help: "RPCs served."},
			{Name: "temp_celsius", Type: model.MetricTypeGauge, Help: "Temperature.", Unit: "celsius"},
			{Name: "lat_seconds", Type: model.MetricTypeHistogram, Help: "Latency."},
			{Name: "q", Type: model.MetricTypeSummary},
			{Name: "free", Type: model.MetricTypeUnknown},
		},
		Samples: []series.Sample{
			{Labels: labels.FromStrings("__name__", "rpc_total", "code", "200"), Value: 7, Family: 0},
			{Labels: labels.FromStrings("__name__", "rpc_created", "code", "200"), Value: 1700000000.5, Family: 0},
			{Labels: labels.FromStrings("__name__", "rpc_total", "code", "500", "job", "plugin-said"), Value: 1, Family: 0},
			{Labels: labels.FromStrings("__name__", "temp_celsius", "room", "a"), Value: 21.5, Family: 1},
			{Labels: labels.FromStrings("__name__", "lat_seconds_bucket", "le", "0.5"), Value: 3, Family: 2},
			{Labels: labels.FromStrings("__name__", "lat_seconds_bucket", "le", "+Inf"), Value: 5, Family: 2},
			{Labels: labels.FromStrings("__name__", "lat_seconds_bucket", "le", "0.1"), Value: 1, Family: 2},
			{Labels: labels.FromStrings("__name__", "lat_seconds_sum", "empty", ""), Value: 2.5, Family: 2},
			{Labels: labels.FromStrings("__name__", "lat_seconds_count"), Value: 5, Family: 2},
			{Labels: labels.FromStrings("__name__", "q", "quantile", "0.9"), Value: 0.25, Family: 3},
			{Labels: labels.FromStrings("__name__", "q_sum"), Value: 10, Family: 3},
			{Labels: labels.FromStrings("__name__", "q_count"), Value: 40, Family: 3},
			{Labels: labels.FromStrings("__name__", "free"), Value: 42, T: 1700000001000, Family: 4},
		},
	}
}

var testAt = time.UnixMilli(1700000123000)

func TestEncodeV2(t *testing.T) {
	req, err := EncodeV2(testBatch(), "node", map[string]string{"instance": "host-1", "dc": ""}, testAt)
	if err != nil {
		t.Fatal(err)
	}
	if req.Format != FormatRemoteWrite2 || req.Samples != 12 || req.Oldest != 1700000001000 {
		t.Errorf("format %v, %d samples, oldest %d; want 2.0, 12 (the _created sample is no series), 1700000001000", req.Format, req.Samples, req.Oldest)
	}
	raw, err := snappy.Decode(nil, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	var w writev2.Request
	if err := w.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if w.Symbols[0] != "" {
		t.Errorf("symbols start with %q, want the empty string", w.Symbols[0])
	}
	got := map[string]writev2.TimeSeries{}
	for _, ts := range w.Timeseries {
		var b labels.ScratchBuilder
		ls, err := ts.ToLabels(&b, w.Symbols)
		if err != nil {
			t.Fatal(err)
		}
		got[ls.String()] = ts
	}
	for _, c := range []struct {
		series     string
		value      float64
		ts, start  int64
		typ        writev2.Metadata_MetricType
		help, unit string
	}{
		{`{__name__="rpc_total", code="200", instance="host-1", job="node"}`, 7, 1700000123000, 1700000000500, writev2.Metadata_METRIC_TYPE_COUNTER, "RPCs served.", ""},
		{`{__name__="rpc_total", code="500", instance="host-1", job="node"}`, 1, 1700000123000, 0, writev2.Metadata_METRIC_TYPE_COUNTER, "RPCs served.", ""},
		{`{__name__="temp_celsius", instance="host-1", job="node", room="a"}`, 21.5, 1700000123000, 0, writev2.Metadata_METRIC_TYPE_GAUGE, "Temperature.", "celsius"},
		{`{__name__="lat_seconds_bucket", instance="host-1", job="node", le="0.5"}`, 3, 1700000123000, 0, writev2.Metadata_METRIC_TYPE_HISTOGRAM, "Latency.", ""},
		{`{__name__="lat_seconds_sum", instance="host-1", job="node"}`, 2.5, 1700000123000, 0, writev2.Metadata_METRIC_TYPE_HISTOGRAM, "Latency.", ""},
		{`{__name__="q", instance="host-1", job="node", quantile="0.9"}`, 0.25, 1700000123000, 0, writev2.Metadata_METRIC_TYPE_SUMMARY, "", ""},
		{`{__name__="free", instance="host-1", job="node"}`, 42, 1700000001000, 0, writev2.Metadata_METRIC_TYPE_UNSPECIFIED, "", ""},
	} {
		ts, ok := got[c.series]
		if !ok {
			t.Errorf("no series %s; got %v", c.series, keys(got))
			continue
		}
		if len(ts.Samples) != 1 || ts.Samples[0].Value != c.value || ts.Samples[0].Timestamp != c.ts || ts.Samples[0].StartTimestamp != c.start {
			t.Errorf("%s: samples %+v, want value %v at %d, start %d", c.series, ts.Samples, c.value, c.ts, c.start)
		}
		if ts.Metadata.Type != c.typ || w.Symbols[ts.Metadata.HelpRef] != c.help || w.Symbols[ts.Metadata.UnitRef] != c.unit {
			t.Errorf("%s: metadata %v %q %q, want %v %q %q", c.series, ts.Metadata.Type, w.Symbols[ts.Metadata.HelpRef], w.Symbols[ts.Metadata.UnitRef], c.typ, c.help, c.unit)
		}
	}
	for s := range got {
		if strings.Contains(s, "_created") || strings.Contains(s, "plugin-said") {
			t.Errorf("sent %s: a _created sample is a start time, and the job label is the run's", s)
		}
	}
	// Symbols are shared: "job" appears once however many series use it.
	if n := countOf(w.Symbols, "job"); n != 1 {
		t.Errorf("symbol job %d times, want once", n)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestEncodeOTLP(t *testing.T) {
	req, err := EncodeOTLP(testBatch(), "node", map[string]string{"instance": "host-1", "dc": "eu"}, testAt, true)
	if err != nil {
		t.Fatal(err)
	}
	if req.Format != FormatOTLPGzip || req.Samples != 12 || req.Oldest != 1700000001000 {
		t.Errorf("format %v, %d samples, oldest %d; want OTLP gzip, 12, 1700000001000", req.Format, req.Samples, req.Oldest)
	}
	zr, err := gzip.NewReader(bytes.NewReader(req.Body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var data metricspb.MetricsData
	if err := proto.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.ResourceMetrics) != 1 || len(data.ResourceMetrics[0].ScopeMetrics) != 1 {
		t.Fatalf("want one resource with one scope, got %v", &data)
	}
	rm := data.ResourceMetrics[0]
	res := map[string]string{}
	for _, kv := range rm.Resource.Attributes {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	if want := map[string]string{"service.name": "node", "service.instance.id": "host-1", "dc": "eu"}; !equalMaps(res, want) {
		t.Errorf("resource attributes %v, want %v", res, want)
	}
	ms := map[string]*metricspb.Metric{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		ms[m.Name] = m
	}
	if got := keys(ms); !slices.Equal(got, []string{"free", "lat_seconds", "q", "rpc", "temp"}) {
		t.Fatalf("metrics %v; want rpc (no _total), temp (no unit suffix), lat_seconds, q, free", got)
	}
	const ns = uint64(time.Millisecond)
	rpc := ms["rpc"]
	if s := rpc.GetSum(); s == nil || !s.IsMonotonic || s.AggregationTemporality != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE || len(s.DataPoints) != 2 {
		t.Fatalf("rpc: %v, want a cumulative monotonic sum of 2 points", rpc)
	}
	if p := rpc.GetSum().DataPoints[0]; p.GetAsDouble() != 7 || p.TimeUnixNano != 1700000123000*ns || p.StartTimeUnixNano != 1700000000500*ns || attrs(p.Attributes) != "code=200" {
		t.Errorf("rpc point %v, want 7 at the run's time, started at _created, code=200", p)
	}
	if p := rpc.GetSum().DataPoints[1]; attrs(p.Attributes) != "code=500" || p.StartTimeUnixNano != 0 {
		t.Errorf("rpc point %v, want code=500 only (job is the resource's), no start", p)
	}
	if rpc.Description != "RPCs served." {
		t.Errorf("rpc description %q", rpc.Description)
	}
	if m := ms["temp"]; m.Unit != "celsius" || m.GetGauge() == nil || m.GetGauge().DataPoints[0].GetAsDouble() != 21.5 || attrs(m.GetGauge().DataPoints[0].Attributes) != "room=a" {
		t.Errorf("temp: %v", m)
	}
	h := ms["lat_seconds"].GetHistogram()
	if h == nil || len(h.DataPoints) != 1 {
		t.Fatalf("lat_seconds: %v", ms["lat_seconds"])
	}
	hp := h.DataPoints[0]
	if !slices.Equal(hp.ExplicitBounds, []float64{0.1, 0.5}) || !slices.Equal(hp.BucketCounts, []uint64{1, 2, 2}) || hp.Count != 5 || hp.GetSum() != 2.5 || len(hp.Attributes) != 0 {
		t.Errorf("histogram point %v, want bounds [0.1 0.5], counts [1 2 2], count 5, sum 2.5, no attributes", hp)
	}
	sp := ms["q"].GetSummary().GetDataPoints()
	if len(sp) != 1 || sp[0].Count != 40 || sp[0].Sum != 10 || len(sp[0].QuantileValues) != 1 || sp[0].QuantileValues[0].Quantile != 0.9 || sp[0].QuantileValues[0].Value != 0.25 {
		t.Errorf("summary points %v", sp)
	}
	if g := ms["free"].GetGauge(); g == nil || g.DataPoints[0].TimeUnixNano != 1700000001000*ns {
		t.Errorf("free: %v, want a gauge at its own timestamp", ms["free"])
	}

	plain, err := EncodeOTLP(testBatch(), "node", nil, testAt, false)
	if err != nil {
		t.Fatal(err)
	}
	var data2 metricspb.MetricsData
	if plain.Format != FormatOTLP || proto.Unmarshal(plain.Body, &data2) != nil {
		t.Errorf("uncompressed: format %v, body not protobuf", plain.Format)
	}
}

func attrs(kvs []*commonpb.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, kv.Key+"="+kv.Value.GetStringValue())
	}
	return strings.Join(parts, ",")
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestHistogramWithoutInf: a histogram whose buckets stop short of +Inf
// gets its last bucket from _count, and a NaN start is none.
func TestHistogramWithoutInf(t *testing.T) {
	b := &series.Batch{
		Families: []series.Family{{Name: "h", Type: model.MetricTypeHistogram}},
		Samples: []series.Sample{
			{Labels: labels.FromStrings("__name__", "h_bucket", "le", "1"), Value: 2},
			{Labels: labels.FromStrings("__name__", "h_count"), Value: 3},
			{Labels: labels.FromStrings("__name__", "h_created"), Value: math.NaN()},
		},
	}
	req, err := EncodeOTLP(b, "j", nil, testAt, false)
	if err != nil {
		t.Fatal(err)
	}
	var data metricspb.MetricsData
	if err := proto.Unmarshal(req.Body, &data); err != nil {
		t.Fatal(err)
	}
	p := data.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetHistogram().DataPoints[0]
	if !slices.Equal(p.BucketCounts, []uint64{2, 1}) || p.Count != 3 || p.Sum != nil || p.StartTimeUnixNano != 0 {
		t.Errorf("point %v, want counts [2 1], count 3, no sum, no start", p)
	}
}

// TestV2AddsInfBucket: as remote write 1.0 does, a histogram without a
// +Inf bucket gets one, its count.
func TestV2AddsInfBucket(t *testing.T) {
	b := &series.Batch{
		Families: []series.Family{{Name: "h", Type: model.MetricTypeHistogram}},
		Samples: []series.Sample{
			{Labels: labels.FromStrings("__name__", "h_bucket", "le", "1"), Value: 2},
			{Labels: labels.FromStrings("__name__", "h_count"), Value: 3},
		},
	}
	req, err := EncodeV2(b, "j", nil, testAt)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := snappy.Decode(nil, req.Body)
	var w writev2.Request
	if err := w.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ts := range w.Timeseries {
		var sb labels.ScratchBuilder
		ls, _ := ts.ToLabels(&sb, w.Symbols)
		got = append(got, ls.String()+"="+strconv.FormatFloat(ts.Samples[0].Value, 'g', -1, 64))
	}
	want := []string{`{__name__="h_bucket", job="j", le="1"}=2`, `{__name__="h_count", job="j"}=3`, `{__name__="h_bucket", job="j", le="+Inf"}=3`}
	if !slices.Equal(got, want) || req.Samples != 3 {
		t.Errorf("series %v (%d samples), want %v", got, req.Samples, want)
	}
}
