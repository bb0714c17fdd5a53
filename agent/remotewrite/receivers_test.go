package remotewrite

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/wlog"

	"github.com/pushagent/pushagent/agent/config"
	"github.com/pushagent/pushagent/agent/series"
	"github.com/pushagent/pushagent/internal/testenv"
)

// liveBatch is testBatch with timestamps a receiver keeps: the run is
// now, the untyped sample a minute ago, the counter created five minutes
// ago.
func liveBatch(now time.Time) *series.Batch {
	b := testBatch()
	for i := range b.Samples {
		s := &b.Samples[i]
		switch s.Labels.Get("__name__") {
		case "free":
			s.T = now.Add(-time.Minute).UnixMilli()
		case "rpc_created":
			s.Value = float64(now.Add(-5*time.Minute).UnixMilli()) / 1000
		}
	}
	return b
}

func openKind(t *testing.T, kind, url string) *Queue {
	t.Helper()
	q, err := Open(Options{Name: "out", Kind: kind, Config: config.RemoteWrite{URL: url, Timeout: 10 * time.Second,
		Buffer: config.Buffer{Dir: t.TempDir(), MaxSize: 64 << 20},
		Queue:  config.QueueConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func deliver(t *testing.T, q *Queue, req Encoded, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.FailedSamples != 0 || st.SentSamples != uint64(req.Samples) {
		t.Fatalf("sent %d, failed %d of %d samples; last error %q", st.SentSamples, st.FailedSamples, req.Samples, st.LastError)
	}
}

func one(t *testing.T, got []testenv.Sample, what string) testenv.Sample {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: got %v, want one sample", what, got)
	}
	return got[0]
}

// TestOTLPToVictoriaMetrics sends a run through OTLP to VictoriaMetrics
// and reads back what it stored: values, names, attributes as labels,
// histogram buckets, summary quantiles, exact timestamps and metadata.
func TestOTLPToVictoriaMetrics(t *testing.T) {
	vm := testenv.StartVictoriaMetricsOTLP(t)
	now := time.Now().Truncate(time.Millisecond)
	req, err := EncodeOTLP(liveBatch(now), "node", map[string]string{"instance": "host-1", "dc": "eu"}, now, true)
	deliver(t, openKind(t, "otlp", vm.OTLPURL), req, err)

	sel := `{service_name="node",service_instance_id="host-1",dc="eu"}`
	vm.WaitFor(t, `count(`+sel+`)`, 30*time.Second, func(s []testenv.Sample) bool { return len(s) == 1 && s[0].Value == 12 })
	for _, c := range []struct {
		expr  string
		value float64
	}{
		{`rpc_total{code="200"}`, 7},
		{`rpc_total{code="500"}`, 1},
		{`temp_celsius{room="a"}`, 21.5},
		{`lat_seconds_bucket{le="0.1"}`, 1},
		{`lat_seconds_bucket{le="0.5"}`, 3},
		{`lat_seconds_bucket{le="+Inf"}`, 5},
		{`lat_seconds_sum`, 2.5},
		{`lat_seconds_count`, 5},
		{`q{quantile="0.9"}`, 0.25},
		{`q_sum`, 10},
		{`q_count`, 40},
	} {
		got := one(t, vm.Query(t, c.expr), c.expr)
		if got.Value != c.value || got.Labels["service_name"] != "node" || got.Labels["service_instance_id"] != "host-1" || got.Labels["dc"] != "eu" {
			t.Errorf("%s = %v, want %v with the run's resource attributes as labels", c.expr, got, c.value)
		}
	}
	for _, c := range []struct {
		match string
		ts    int64
	}{
		{`rpc_total{code="200"}`, now.UnixMilli()},
		{`free`, now.Add(-time.Minute).UnixMilli()},
	} {
		ex := vm.Export(t, c.match)
		if len(ex) != 1 || len(ex[0].Timestamps) != 1 || ex[0].Timestamps[0] != c.ts {
			t.Errorf("%s exported as %+v, want one sample at %d", c.match, ex, c.ts)
		}
	}
	if ex := vm.Export(t, `{__name__=~".*_created"}`); len(ex) != 0 {
		t.Errorf("a _created sample was stored as a series: %+v", ex)
	}
	for _, c := range []struct{ metric, typ, help string }{
		{"rpc_total", "counter", "RPCs served."},
		{"temp_celsius", "gauge", "Temperature."},
		{"lat_seconds", "histogram", "Latency."},
	} {
		testenv.Eventually(t, 30*time.Second, c.metric+"'s metadata", func() bool {
			typ, help, _ := vm.Metadata(t, c.metric)
			return typ == c.typ && help == c.help
		})
	}
}

// TestOTLPToPrometheus sends the same run to Prometheus 3's OTLP
// receiver: job and instance come back from service.name and
// service.instance.id, the other grouping labels in target_info, the
// types as __type__.
func TestOTLPToPrometheus(t *testing.T) {
	p := testenv.StartPrometheus3(t)
	now := time.Now().Truncate(time.Millisecond)
	req, err := EncodeOTLP(liveBatch(now), "node", map[string]string{"instance": "host-1", "dc": "eu"}, now, true)
	deliver(t, openKind(t, "otlp", p.OTLPURL), req, err)

	for _, c := range []struct {
		expr, typ string
		value     float64
	}{
		{`rpc_total{code="200",job="node",instance="host-1"}`, "counter", 7},
		{`temp_celsius{room="a",job="node",instance="host-1"}`, "gauge", 21.5},
		{`lat_seconds_bucket{le="0.5",job="node",instance="host-1"}`, "histogram", 3},
		{`lat_seconds_count{job="node",instance="host-1"}`, "histogram", 5},
		{`q{quantile="0.9",job="node",instance="host-1"}`, "summary", 0.25},
		{`timestamp(free{job="node",instance="host-1"})`, "", float64(now.Add(-time.Minute).UnixMilli()) / 1000},
	} {
		got := one(t, p.WaitFor(t, c.expr, 30*time.Second, nil), c.expr)
		if got.Value != c.value || (c.typ != "" && got.Labels["__type__"] != c.typ) {
			t.Errorf("%s = %v, want %v with __type__ %q", c.expr, got, c.value, c.typ)
		}
	}
	if got := one(t, p.Query(t, `target_info{job="node",instance="host-1"}`), "target_info"); got.Labels["dc"] != "eu" {
		t.Errorf("target_info = %v, want the grouping label dc", got)
	}
}

// TestRemoteWrite2ToPrometheus sends a run as remote write 2.0 to
// Prometheus 3 and reads back values, types and units (from the metadata
// each series carries), the sample's own timestamp and the counter's
// created timestamp (stored as a zero sample).
func TestRemoteWrite2ToPrometheus(t *testing.T) {
	p := testenv.StartPrometheus3(t)
	now := time.Now().Truncate(time.Millisecond)
	req, err := EncodeV2(liveBatch(now), "node", map[string]string{"instance": "host-1"}, now)
	deliver(t, openKind(t, "remote_write", p.WriteURL), req, err)

	for _, c := range []struct {
		expr, typ, unit string
		value           float64
	}{
		{`rpc_total{code="200",job="node",instance="host-1"}`, "counter", "", 7},
		{`temp_celsius{room="a",job="node"}`, "gauge", "celsius", 21.5},
		{`lat_seconds_bucket{le="+Inf",job="node"}`, "histogram", "", 5},
		{`q_sum{job="node"}`, "summary", "", 10},
		{`timestamp(free{job="node"})`, "", "", float64(now.Add(-time.Minute).UnixMilli()) / 1000},
		// The created timestamp is a zero sample five minutes before.
		{`count_over_time(rpc_total{code="200"}[10m])`, "", "", 2},
		{`count_over_time(rpc_total{code="500"}[10m])`, "", "", 1},
	} {
		got := one(t, p.WaitFor(t, c.expr, 30*time.Second, nil), c.expr)
		if got.Value != c.value || got.Labels["__type__"] != c.typ || got.Labels["__unit__"] != c.unit {
			t.Errorf("%s = %v, want %v with __type__ %q __unit__ %q", c.expr, got, c.value, c.typ, c.unit)
		}
	}
}

// TestRemoteWrite2Refused: a receiver that does not take 2.0 makes the
// request fail with an error that says to set protocol 1.0, never a
// silent loss: Prometheus 3 told to accept 1.0 only answers 415;
// VictoriaMetrics, which knows no 2.0, is caught either way.
func TestRemoteWrite2Refused(t *testing.T) {
	p := testenv.StartPrometheus3(t, "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest")
	vm := testenv.StartVictoriaMetricsOTLP(t)
	for name, url := range map[string]string{"prometheus-1.0-only": p.WriteURL, "victoria-metrics": vm.WriteURL} {
		t.Run(name, func(t *testing.T) {
			q := openKind(t, "remote_write", url)
			now := time.Now()
			req, err := EncodeV2(liveBatch(now), "node", nil, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Enqueue(req); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 20*time.Second, "the request refused", func() bool { return q.Stats().FailedSamples == uint64(req.Samples) })
			if st := q.Stats(); !strings.Contains(st.LastError, `set protocol: "1.0"`) {
				t.Errorf("last error %q, want it to say to set protocol 1.0", st.LastError)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := q.Wait(ctx); err != nil {
				t.Fatal(err) // refused for good: not retried forever
			}
		})
	}
}

// TestOTLPOutage: what is enqueued while VictoriaMetrics is down arrives,
// in full, once it is back.
func TestOTLPOutage(t *testing.T) {
	vm := testenv.StartVictoriaMetricsOTLP(t)
	q := openKind(t, "otlp", vm.OTLPURL)
	vm.Stop()
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := range 5 {
		at := start.Add(time.Duration(i) * time.Second)
		b := &series.Batch{Families: []series.Family{{Name: "up_runs", Type: model.MetricTypeGauge}},
			Samples: []series.Sample{{Labels: labels.FromStrings("__name__", "up_runs"), Value: float64(i)}}}
		req, err := EncodeOTLP(b, "outage", nil, at, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(req); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "a failed attempt", func() bool { return q.Stats().LastError != "" })
	vm.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "5 samples in VictoriaMetrics", func() bool {
		ex := vm.Export(t, `up_runs{service_name="outage"}`)
		return len(ex) == 1 && len(ex[0].Values) == 5
	})
	ex := vm.Export(t, `up_runs{service_name="outage"}`)
	for i, v := range ex[0].Values {
		if v != float64(i) || ex[0].Timestamps[i] != start.Add(time.Duration(i)*time.Second).UnixMilli() {
			t.Errorf("sample %d: %v at %d, want %d at the run's time", i, v, ex[0].Timestamps[i], i)
		}
	}
}

// TestOTLPCorruptPage: a flipped byte in the first page of a buffer of
// OTLP requests loses that page's runs only; VictoriaMetrics gets the
// rest, in order, and the corrupt stretch is counted.
func TestOTLPCorruptPage(t *testing.T) {
	vm := testenv.StartVictoriaMetricsOTLP(t)
	dir := t.TempDir()
	cfg := config.RemoteWrite{URL: "http://" + closedAddr(t) + "/opentelemetry/v1/metrics", Timeout: 2 * time.Second,
		Buffer: config.Buffer{Dir: dir, MaxSize: 64 << 20}, Queue: config.QueueConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}}
	q, err := Open(Options{Name: "otel", Kind: "otlp", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	for i := range n {
		b := &series.Batch{Families: []series.Family{{Name: "runs", Type: model.MetricTypeGauge}},
			// Distinct labels per run make each request larger than a
			// few bytes, so that the buffer spans several pages.
			Samples: []series.Sample{{Labels: labels.FromStrings("__name__", "runs", "pad", strings.Repeat("x", 400)), Value: float64(i)}}}
		req, err := EncodeOTLP(b, "corrupt", nil, start.Add(time.Duration(i)*time.Second), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(req); err != nil {
			t.Fatal(err)
		}
	}
	_ = q.Close()
	flipFirstRecordByte(t, dir)
	cfg.URL = vm.OTLPURL
	q, err = Open(Options{Name: "otel", Kind: "otlp", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	waitIdle(t, q)
	if q.Stats().Corrupt == 0 {
		t.Error("the corrupt page was not counted")
	}
	var got []float64
	testenv.Eventually(t, 30*time.Second, "the runs after the corrupt page", func() bool {
		ex := vm.Export(t, `runs{service_name="corrupt"}`)
		if len(ex) != 1 {
			return false
		}
		got = ex[0].Values
		return got[len(got)-1] == n-1
	})
	perPage := n * pageSize / (n * 450)
	if len(got) < n-2*perPage || got[0] == 0 {
		t.Errorf("%d of %d runs arrived, first %v; want only the first page's (about %d) lost", len(got), n, got[0], perPage)
	}
}

// flipFirstRecordByte corrupts the first record of the buffer's last
// segment, as a bad disk would.
func flipFirstRecordByte(t *testing.T, dir string) {
	t.Helper()
	_, last, err := wlog.Segments(dir)
	if err != nil {
		t.Fatal(err)
	}
	seg := wlog.SegmentName(dir, last)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 3*pageSize {
		t.Fatalf("segment is %d bytes; the test needs several pages", len(b))
	}
	b[20] ^= 0xff
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
